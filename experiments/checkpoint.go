package experiments

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/morphreuse/morphreuse-go/internal/dims"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/results"
)

// An end-of-epoch checkpoint is a directory <root>/epoch-NNNN holding
// state.json (the run so far and a table of contents) and variables.bin (every
// variable of the context: model, optimizer moments and step, RNG state). It
// is written under a temporary name, synced and renamed, so a checkpoint
// directory is either complete or absent; the previous one is removed only
// after. Resuming restores all of it, and the epoch order depends only on
// (seed, epoch), so a resumed run computes exactly what an uninterrupted one
// would have.

const checkpointFormat = 1

// checkpointState is state.json.
type checkpointState struct {
	FormatVersion int             `json:"format_version"`
	Run           string          `json:"run"`    // RunConfig.Name(), checked on resume
	Config        map[string]any  `json:"config"` // the run's configuration, checked on resume
	Epochs        []results.Epoch `json:"epochs"` // completed epochs
	StartedAt     time.Time       `json:"started_at"`
	WallSeconds   float64         `json:"wall_seconds"`
	Variables     []savedVariable `json:"variables"`
	DataSHA256    string          `json:"data_sha256"` // of variables.bin
}

type savedVariable struct {
	Name   string       `json:"name"` // Variable.ParameterName()
	DType  dtypes.DType `json:"dtype"`
	Dims   []int        `json:"dims"`
	Offset int64        `json:"offset"`
	Length int64        `json:"length"`
}

const (
	stateFile     = "state.json"
	variablesFile = "variables.bin"
	epochPrefix   = "epoch-"
)

// saveCheckpoint writes every variable of ctx and st to root/epoch-NNNN and
// removes the older checkpoints.
func saveCheckpoint(root string, ctx *context.Context, st checkpointState) (err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	final := filepath.Join(root, fmt.Sprintf("%s%04d", epochPrefix, len(st.Epochs)))
	// A save interrupted (SIGKILL, power loss) leaves its temporary directory:
	// never a checkpoint, only wasted space.
	stale, _ := filepath.Glob(filepath.Join(root, ".tmp-"+epochPrefix+"*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
	tmp, err := os.MkdirTemp(root, ".tmp-"+epochPrefix)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()

	f, err := os.Create(filepath.Join(tmp, variablesFile))
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	hash := sha256.New()
	w := io.MultiWriter(f, hash)
	var offset int64
	st.Variables = nil
	for v := range ctx.IterVariables() {
		value, verr := v.Value()
		if verr != nil || value == nil {
			continue // Not initialised: nothing to save (it will be initialised again on resume).
		}
		var n int
		if berr := value.ConstBytes(func(data []byte) { n, err = w.Write(data) }); berr != nil {
			err = berr
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("checkpoint: writing %s: %w", v.ParameterName(), err)
		}
		st.Variables = append(st.Variables, savedVariable{Name: v.ParameterName(), DType: value.DType(),
			Dims: value.Shape().Dimensions, Offset: offset, Length: int64(n)})
		offset += int64(n)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	st.FormatVersion = checkpointFormat
	st.DataSHA256 = hex.EncodeToString(hash.Sum(nil))
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := writeSynced(filepath.Join(tmp, stateFile), data); err != nil {
		return err
	}
	syncDir(tmp)        // the two files' directory entries, before the rename publishes them
	os.RemoveAll(final) // A stale directory of the same epoch (an earlier run of it).
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	syncDir(root)
	for _, old := range listCheckpoints(root) {
		if old != final {
			os.RemoveAll(old)
		}
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// listCheckpoints returns the complete checkpoint directories under root, oldest first.
func listCheckpoints(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), epochPrefix) {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	slices.Sort(dirs)
	return dirs
}

// checkpoint is a loaded checkpoint: its state and the variable values, which
// it hands to the context as the model, optimizer and RNG variables are
// created (it is the context's Loader).
type checkpoint struct {
	dir    string
	state  checkpointState
	values map[string]*tensors.Tensor
}

// loadCheckpoint reads the latest checkpoint under root; (nil, nil) when there is none.
// A damaged checkpoint is an error that names it: nothing is deleted.
func loadCheckpoint(root string) (*checkpoint, error) {
	dirs := listCheckpoints(root)
	if len(dirs) == 0 {
		return nil, nil
	}
	dir := dirs[len(dirs)-1]
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint %s is damaged (%s); delete that directory to restart the run from its previous checkpoint or from scratch",
			dir, fmt.Sprintf(format, args...))
	}
	raw, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, damaged("%v", err)
	}
	var st checkpointState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, damaged("%s: %v", stateFile, err)
	}
	if st.FormatVersion != checkpointFormat {
		return nil, damaged("format version %d, this program reads %d", st.FormatVersion, checkpointFormat)
	}
	data, err := os.ReadFile(filepath.Join(dir, variablesFile))
	if err != nil {
		return nil, damaged("%v", err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != st.DataSHA256 {
		return nil, damaged("%s does not match its checksum", variablesFile)
	}
	c := &checkpoint{dir: dir, state: st, values: map[string]*tensors.Tensor{}}
	for _, v := range st.Variables {
		if !v.DType.IsADType() || v.DType == dtypes.InvalidDType || v.Offset < 0 || v.Length < 0 ||
			v.Offset > int64(len(data)) || v.Length > int64(len(data))-v.Offset {
			return nil, damaged("variable %s: bad table entry", v.Name)
		}
		// state.json is not covered by the checksum: its dimensions are checked
		// before shapes.Make (which panics on a negative one) and before allocating.
		if n, err := dims.Count(v.Dims, v.Length); err != nil || n*int64(v.DType.Memory()) != v.Length {
			return nil, damaged("variable %s: dimensions %v do not fit its %d bytes", v.Name, v.Dims, v.Length)
		}
		shape := shapes.Make(v.DType, v.Dims...)
		if int64(shape.Memory()) != v.Length {
			return nil, damaged("variable %s: %d bytes for shape %s", v.Name, v.Length, shape)
		}
		t := tensors.FromShape(shape)
		if v.Length > 0 {
			t.MutableBytes(func(b []byte) { copy(b, data[v.Offset:v.Offset+v.Length]) })
		}
		c.values[v.Name] = t
	}
	return c, nil
}

// attach makes c the context's loader and overwrites the variables ctx already has.
func (c *checkpoint) attach(ctx *context.Context) error {
	for v := range ctx.IterVariables() {
		if value, ok := c.values[v.ParameterName()]; ok {
			if err := v.SetValue(value); err != nil {
				return err
			}
			delete(c.values, v.ParameterName())
		}
	}
	ctx.SetLoader(c)
	return nil
}

// LoadVariable implements context.Loader.
func (c *checkpoint) LoadVariable(_ *context.Context, scope, name string) (*tensors.Tensor, bool) {
	key := context.VariableParameterNameFromScopeAndName(scope, name)
	value, ok := c.values[key]
	delete(c.values, key)
	return value, ok
}

// DeleteVariable implements context.Loader.
func (c *checkpoint) DeleteVariable(_ *context.Context, scope, name string) error {
	delete(c.values, context.VariableParameterNameFromScopeAndName(scope, name))
	return nil
}

// unused lists the saved variables the resumed model never asked for: a sign
// the checkpoint belongs to another model.
func (c *checkpoint) unused() []string {
	var names []string
	for name := range c.values {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// matchesRun reports a checkpoint written by another run than the one named
// run with configuration config (compared as JSON, as state.json stores it).
func (c *checkpoint) matchesRun(run string, config map[string]any) error {
	want, _ := json.Marshal(config)
	got, _ := json.Marshal(c.state.Config)
	if c.state.Run != run || string(want) != string(got) {
		return fmt.Errorf("checkpoint %s is of run %s with configuration %s, not of %s with %s; delete it to start this run over",
			c.dir, c.state.Run, got, run, want)
	}
	return nil
}
