package lora

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/morphreuse/morphreuse-go/internal/dims"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/nn"
)

// Adapter files. Save writes a directory with two files:
//
//   - ConfigFile (adapter_config.json): the small, versioned description —
//     format_version, rank, alpha, rslora, scaling, targets, the wrapped layers
//     with their base shapes, dtype and the SHA-256 of each base weight and
//     bias (raw little-endian bytes), the names of the other saved variables
//     ("modules_to_save"), and the name and SHA-256 of the weights file.
//   - WeightsFile (adapter_weights.safetensors): the tensors, in the
//     safetensors layout (8-byte little-endian header length, JSON header
//     {name: {dtype, shape, data_offsets}}, raw little-endian data), named by
//     scope relative to the adapter's scope: "fc1/lora_A" [in, r],
//     "fc1/lora_B" [r, out], and every modules_to_save variable, e.g.
//     "conv1/weights".
//
// What is saved: A and B of every wrapped layer, plus every other trainable
// parameter under the adapter's scope (a trained head or backbone — PEFT's
// "modules_to_save"; forgetting them is PEFT's most reported failure). Frozen
// base weights are not saved, only fingerprinted: Load needs the same base
// (e.g. rebuilt from the same seed, or loaded from its checkpoint) and refuses
// any other. These files use PEFT's config file name but not its tensor names
// or layouts: PEFT cannot load them.
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_weights.safetensors"
	// FormatVersion is the adapter file format written by Save. Load reads
	// this version and refuses newer ones; unknown JSON fields are ignored.
	FormatVersion = 1
	library       = "github.com/morphreuse/morphreuse-go/lora"
	layout        = "y = x·W + b + scaling·(x·A)·B; W [in, out], lora_A [in, r], lora_B [r, out]"
)

type fileConfig struct {
	FormatVersion int            `json:"format_version"`
	Library       string         `json:"library"`
	Layout        string         `json:"layout"`
	Rank          int            `json:"rank"`
	Alpha         float64        `json:"alpha"`
	RSLoRA        bool           `json:"rslora"`
	Scaling       float64        `json:"scaling"`
	Targets       []string       `json:"targets"`
	Wrapped       []wrappedLayer `json:"wrapped"`
	ModulesToSave []string       `json:"modules_to_save"`
	WeightsFile   string         `json:"weights_file"`
	WeightsSHA256 string         `json:"weights_sha256"`
}

type wrappedLayer struct {
	Name          string `json:"name"`
	In            int    `json:"in"`
	Out           int    `json:"out"`
	DType         string `json:"dtype"`
	Bias          bool   `json:"bias"`
	WeightsSHA256 string `json:"weights_sha256"`
	BiasesSHA256  string `json:"biases_sha256,omitempty"`
}

// Save writes the adapter applied at ctx's scope, and the other trainable
// parameters under that scope, to dir (created if needed). Each file is
// written to a temporary name and renamed, so neither is ever half written;
// the config names the weights file's SHA-256, so a mismatched pair is caught
// by Load.
func Save(ctx *context.Context, dir string) error {
	a, err := mustApplied(ctx)
	if err != nil {
		return err
	}
	base := ctx.Scope()
	cfg := fileConfig{
		FormatVersion: FormatVersion, Library: library, Layout: layout,
		Rank: a.Config.Rank, Alpha: a.Config.Alpha, RSLoRA: a.Config.RSLoRA, Scaling: a.Config.Scaling(),
		Targets: a.Config.Targets, ModulesToSave: []string{}, WeightsFile: WeightsFile,
	}
	var names []string
	var values []*tensors.Tensor
	add := func(name string, v *context.Variable) error {
		if v == nil || !v.HasValue() {
			return fmt.Errorf("lora: %s is missing or not initialised (run the model once, or ctx.InitializeVariables, before Save)", name)
		}
		names, values = append(names, name), append(values, v.MustValue())
		return nil
	}
	for _, name := range a.Wrapped {
		scope := joinScope(base, name)
		w, b := ctx.InspectVariableIfLoaded(scope, nn.WeightsVar), ctx.InspectVariableIfLoaded(scope, nn.BiasesVar)
		if w == nil || !w.HasValue() || (b != nil && !b.HasValue()) {
			return fmt.Errorf("lora: base weights of layer %q missing or not initialised", name)
		}
		entry := wrappedLayer{Name: name, In: w.Shape().Dimensions[0], Out: w.Shape().Dimensions[1],
			DType: w.DType().String(), Bias: b != nil, WeightsSHA256: fingerprint(w.MustValue())}
		if b != nil {
			entry.BiasesSHA256 = fingerprint(b.MustValue())
		}
		cfg.Wrapped = append(cfg.Wrapped, entry)
		for _, vn := range []string{AVar, BVar} {
			if err := add(name+"/"+vn, ctx.InspectVariableIfLoaded(scope, vn)); err != nil {
				return err
			}
		}
	}
	for v := range nn.Parameters(ctx) {
		if !v.Trainable || v.Name() == AVar || v.Name() == BVar {
			continue
		}
		name := nn.RelativeName(base, v)
		cfg.ModulesToSave = append(cfg.ModulesToSave, name)
		if err := add(name, v); err != nil {
			return err
		}
	}
	data, err := encodeSafetensors(names, values)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	cfg.WeightsSHA256 = hex.EncodeToString(sum[:])
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lora: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, WeightsFile), data); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, ConfigFile), append(js, '\n'))
}

// Load reads an adapter saved by Save into the model at ctx's scope, whose
// base layers and variables must exist (build the model graph once first)
// and match what the adapter was trained on: same wrapped layers with the same
// shapes, dtype and weights (by SHA-256), and every saved variable present
// with its shape. It then applies the adapter (as Apply, on exactly the saved
// layers) and sets A, B and the saved variables. On any error ctx is unchanged.
func Load(ctx *context.Context, dir string) ([]string, error) {
	cfg, tensorsByName, err := readAdapter(dir)
	if err != nil {
		return nil, err
	}
	if a, err := readApplied(ctx); err != nil || a != nil {
		if err == nil {
			err = fmt.Errorf("lora: an adapter is already applied at %q; load into a fresh model", ctx.Scope())
		}
		return nil, err
	}
	layers := denseLayers(ctx)
	if len(layers) == 0 {
		return nil, fmt.Errorf("lora: no lora.Dense layer under scope %q: build the model graph once (creating its variables) before Load", ctx.Scope())
	}
	byName := map[string]layer{}
	for _, l := range layers {
		byName[l.name] = l
	}
	var errs []error
	selected := make([]layer, 0, len(cfg.Wrapped))
	for _, wl := range cfg.Wrapped {
		l, ok := byName[wl.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("layer %q: no such lora.Dense layer in this model (it has: %s)", wl.Name, layerNames(layers)))
			continue
		}
		selected = append(selected, l)
		if got := l.weights.Shape(); got.DType.String() != wl.DType || !slices.Equal(got.Dimensions, []int{wl.In, wl.Out}) {
			errs = append(errs, fmt.Errorf("layer %q: base weights are %s%v, the adapter was trained on %s[%d %d]", wl.Name, got.DType, got.Dimensions, wl.DType, wl.In, wl.Out))
			continue
		}
		if !l.weights.HasValue() || fingerprint(l.weights.MustValue()) != wl.WeightsSHA256 {
			errs = append(errs, fmt.Errorf("layer %q: base weights differ from the ones the adapter was trained on (SHA-256 mismatch)", wl.Name))
		}
		switch {
		case (l.biases != nil) != wl.Bias:
			errs = append(errs, fmt.Errorf("layer %q: bias presence differs (model %v, adapter %v)", wl.Name, l.biases != nil, wl.Bias))
		case l.biases != nil && (!l.biases.HasValue() || fingerprint(l.biases.MustValue()) != wl.BiasesSHA256):
			errs = append(errs, fmt.Errorf("layer %q: base biases differ from the ones the adapter was trained on (SHA-256 mismatch)", wl.Name))
		}
		for _, vn := range []string{AVar, BVar} {
			want := []int{wl.In, cfg.Rank}
			if vn == BVar {
				want = []int{cfg.Rank, wl.Out}
			}
			t := tensorsByName[wl.Name+"/"+vn]
			if t == nil || t.DType().String() != wl.DType || !slices.Equal(t.Shape().Dimensions, want) {
				errs = append(errs, fmt.Errorf("layer %q: %s missing or mis-shaped in %s", wl.Name, vn, WeightsFile))
			}
		}
	}
	extras := make([]*context.Variable, len(cfg.ModulesToSave))
	for i, name := range cfg.ModulesToSave {
		scope, vn := splitName(ctx.Scope(), name)
		v := ctx.InspectVariableIfLoaded(scope, vn)
		t := tensorsByName[name]
		switch {
		case t == nil:
			errs = append(errs, fmt.Errorf("%s: listed in modules_to_save but missing from %s", name, WeightsFile))
		case v == nil:
			errs = append(errs, fmt.Errorf("%s: saved with the adapter, but the model has no such variable", name))
		case !v.Shape().Equal(t.Shape()):
			errs = append(errs, fmt.Errorf("%s: the model's variable is %s, the saved one %s", name, v.Shape(), t.Shape()))
		}
		extras[i] = v
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("lora: adapter %s does not fit this model: %w", dir, errors.Join(errs...))
	}

	wrapped, err := wrap(ctx, Config{Rank: cfg.Rank, Alpha: cfg.Alpha, RSLoRA: cfg.RSLoRA, Targets: cfg.Targets}, selected)
	if err != nil {
		return nil, err
	}
	for _, name := range wrapped {
		scope := joinScope(ctx.Scope(), name)
		for _, vn := range []string{AVar, BVar} {
			if err := ctx.InspectVariableIfLoaded(scope, vn).SetValue(tensorsByName[name+"/"+vn]); err != nil {
				return nil, err
			}
		}
	}
	for i, v := range extras {
		if err := v.SetValue(tensorsByName[cfg.ModulesToSave[i]]); err != nil {
			return nil, err
		}
	}
	return wrapped, nil
}

// readAdapter reads and checks both files of an adapter directory.
func readAdapter(dir string) (*fileConfig, map[string]*tensors.Tensor, error) {
	js, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, nil, fmt.Errorf("lora: %w", err)
	}
	var cfg fileConfig
	if err := json.Unmarshal(js, &cfg); err != nil {
		return nil, nil, fmt.Errorf("lora: %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	switch {
	case cfg.FormatVersion > FormatVersion:
		return nil, nil, fmt.Errorf("lora: %s has format_version %d, newer than this library reads (%d): update github.com/morphreuse/morphreuse-go",
			filepath.Join(dir, ConfigFile), cfg.FormatVersion, FormatVersion)
	case cfg.FormatVersion < 1:
		return nil, nil, fmt.Errorf("lora: %s has no valid format_version: not an adapter written by Save", filepath.Join(dir, ConfigFile))
	}
	if err := (Config{Rank: cfg.Rank, Alpha: cfg.Alpha, RSLoRA: cfg.RSLoRA, Targets: cfg.Targets}).Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w (in %s)", err, filepath.Join(dir, ConfigFile))
	}
	if len(cfg.Wrapped) == 0 {
		return nil, nil, fmt.Errorf("lora: %s wraps no layer", filepath.Join(dir, ConfigFile))
	}
	seen := map[string]bool{}
	for _, wl := range cfg.Wrapped {
		if seen[wl.Name] {
			return nil, nil, fmt.Errorf("lora: %s lists layer %q twice", filepath.Join(dir, ConfigFile), wl.Name)
		}
		seen[wl.Name] = true
	}
	if filepath.Base(cfg.WeightsFile) != cfg.WeightsFile || cfg.WeightsFile == "" {
		return nil, nil, fmt.Errorf("lora: %s: weights_file %q must be a plain file name", filepath.Join(dir, ConfigFile), cfg.WeightsFile)
	}
	data, err := os.ReadFile(filepath.Join(dir, cfg.WeightsFile))
	if err != nil {
		return nil, nil, fmt.Errorf("lora: %w", err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != cfg.WeightsSHA256 {
		return nil, nil, fmt.Errorf("lora: %s does not match the SHA-256 in %s (files from different saves, or damaged)", cfg.WeightsFile, ConfigFile)
	}
	byName, err := decodeSafetensors(data)
	if err != nil {
		return nil, nil, fmt.Errorf("lora: %s: %w", filepath.Join(dir, cfg.WeightsFile), err)
	}
	return &cfg, byName, nil
}

// splitName splits a relative "a/b/name" into the absolute scope and the variable name.
func splitName(base, rel string) (scope, name string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return base, rel
	}
	return joinScope(base, rel[:i]), rel[i+1:]
}

// fingerprint is the hex SHA-256 of a tensor's raw little-endian bytes.
func fingerprint(t *tensors.Tensor) string {
	h := sha256.New()
	if err := t.ConstBytes(func(data []byte) { h.Write(data) }); err != nil {
		panic(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// safetensors dtype names.
var safetensorsDTypes = map[dtypes.DType]string{
	dtypes.Float32: "F32", dtypes.Float64: "F64", dtypes.Int32: "I32", dtypes.Int64: "I64",
}

type safetensorsEntry struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

func encodeSafetensors(names []string, values []*tensors.Tensor) ([]byte, error) {
	if !littleEndian() {
		return nil, errors.New("lora: adapter files are little-endian; this machine is not")
	}
	header := map[string]any{"__metadata__": map[string]string{"writer": library}}
	var body bytes.Buffer
	for i, name := range names {
		t := values[i]
		dt, ok := safetensorsDTypes[t.DType()]
		if !ok {
			return nil, fmt.Errorf("lora: cannot save %s: dtype %s", name, t.DType())
		}
		start := body.Len()
		if err := t.ConstBytes(func(data []byte) { body.Write(data) }); err != nil {
			return nil, fmt.Errorf("lora: reading %s: %w", name, err)
		}
		header[name] = safetensorsEntry{DType: dt, Shape: append([]int{}, t.Shape().Dimensions...), Offsets: [2]int{start, body.Len()}}
	}
	js, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	out = append(out, js...)
	return append(out, body.Bytes()...), nil
}

func decodeSafetensors(data []byte) (map[string]*tensors.Tensor, error) {
	if !littleEndian() {
		return nil, errors.New("adapter files are little-endian; this machine is not")
	}
	if len(data) < 8 {
		return nil, errors.New("too short for a safetensors header")
	}
	n := binary.LittleEndian.Uint64(data)
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d exceeds the file", n)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &raw); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	body := data[8+n:]
	names := make([]string, 0, len(raw))
	for name := range raw {
		if name != "__metadata__" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := map[string]*tensors.Tensor{}
	for _, name := range names {
		var e safetensorsEntry
		if err := json.Unmarshal(raw[name], &e); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		var dtype dtypes.DType
		for dt, s := range safetensorsDTypes {
			if s == e.DType {
				dtype = dt
			}
		}
		if dtype == dtypes.InvalidDType {
			return nil, fmt.Errorf("tensor %q: unsupported dtype %q", name, e.DType)
		}
		// Checked before shapes.Make, which panics on a negative dimension, and
		// before anything is allocated for the shape.
		if _, err := dims.Count(e.Shape, int64(len(body))); err != nil {
			return nil, fmt.Errorf("tensor %q: %w: does not fit the %d data bytes", name, err, len(body))
		}
		shape := shapes.Make(dtype, e.Shape...)
		start, end := e.Offsets[0], e.Offsets[1]
		if start < 0 || end < start || end > len(body) || end-start != int(shape.Memory()) {
			return nil, fmt.Errorf("tensor %q: data_offsets %v do not fit %s in %d data bytes", name, e.Offsets, shape, len(body))
		}
		t := tensors.FromShape(shape)
		// GoMLX's MutableBytes panics on a tensor with no elements: nothing to copy then.
		if end > start {
			if err := t.MutableBytes(func(dst []byte) { copy(dst, body[start:end]) }); err != nil {
				return nil, fmt.Errorf("tensor %q: %w", name, err)
			}
		}
		out[name] = t
	}
	return out, nil
}

func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }

// writeFileAtomic writes data to a temporary file next to path, syncs it and renames it over path.
func writeFileAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("lora: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("lora: writing %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil { // Make the rename durable (best effort).
		d.Sync()
		d.Close()
	}
	return nil
}
