package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FormatVersion is the version of the record format this package writes and
// the newest it reads. Bump it when a field changes meaning or is removed.
const FormatVersion = 1

// Run status values.
const (
	StatusComplete = "complete"
	StatusFailed   = "failed"
)

// Record is one run: what ran, where, and what it measured (SPEC §4).
// The JSON names are the contract with the experiments package and the CLI.
type Record struct {
	// FormatVersion is [FormatVersion]; Write fills it in when zero.
	FormatVersion int `json:"format_version"`
	// Status is StatusComplete or StatusFailed. A failed run keeps its epochs
	// so far and Error; reports list it as failed, never its accuracy as a result.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`

	Dataset string `json:"dataset"` // "mnist", "fashion-mnist", "cifar10", "sst2"
	Method  string `json:"method"`  // "baseline", "morph-frozen", "morph-trained", "morph", "lora"
	Variant string `json:"variant,omitempty"`
	Seed    int    `json:"seed"`
	// Backbone names the pretrained model of SST-2 runs, e.g.
	// "huawei-noah/TinyBERT_General_4L_312D" or "bert-tiny-fixture".
	Backbone string `json:"backbone,omitempty"`

	Backend Backend        `json:"backend"`
	Config  map[string]any `json:"config"`

	Epochs            []Epoch  `json:"epochs"`
	FinalTestAccuracy *float64 `json:"final_test_accuracy"` // fraction in [0,1]; nil for failed runs
	FinalDevAccuracy  *float64 `json:"final_dev_accuracy,omitempty"`

	TrainableParams int64   `json:"trainable_params"`
	TotalParams     int64   `json:"total_params"`
	WallSeconds     float64 `json:"wall_seconds"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
	// StepsPerEpoch and Compiles are optional performance counters (0: not recorded).
	StepsPerEpoch int `json:"steps_per_epoch,omitempty"`
	Compiles      int `json:"compiles,omitempty"`

	Machine    Machine   `json:"machine"`
	Commit     string    `json:"commit"` // "abc1234", "abc1234-dirty" or "unknown"
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`

	Learned *Learned `json:"learned,omitempty"` // morph methods only
}

// Backend is the GoMLX backend a run used.
type Backend struct {
	Name   string `json:"name"`   // "simplego" or "xla"
	Config string `json:"config"` // e.g. "go:ops_sequential", "xla:cpu"
	GoMLX  string `json:"gomlx"`  // GoMLX module version, e.g. "v0.26.0"
}

// String is the one-line form used in tables and reports.
func (b Backend) String() string {
	s := b.Name
	var extra []string
	if b.Config != "" && b.Config != b.Name {
		extra = append(extra, b.Config)
	}
	if b.GoMLX != "" {
		extra = append(extra, "GoMLX "+b.GoMLX)
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// Machine describes where a run ran; see [CurrentMachine].
type Machine struct {
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	GOMAXPROCS  int    `json:"gomaxprocs,omitempty"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	GoVersion   string `json:"go_version"`
	MemoryBytes int64  `json:"memory_bytes"`
}

// String is the one-line form used in reports.
func (m Machine) String() string {
	cpu := m.CPU
	if cpu == "" {
		cpu = "unknown CPU"
	}
	s := fmt.Sprintf("%s, %d cores", cpu, m.Cores)
	if m.GOMAXPROCS > 0 && m.GOMAXPROCS != m.Cores {
		s += fmt.Sprintf(" (GOMAXPROCS %d)", m.GOMAXPROCS)
	}
	if m.MemoryBytes > 0 {
		s += ", " + formatBytes(m.MemoryBytes) + " RAM"
	}
	if m.OS != "" || m.Arch != "" {
		s += ", " + m.OS + "/" + m.Arch
	}
	if m.GoVersion != "" {
		s += ", " + m.GoVersion
	}
	return s
}

// Epoch is what one epoch measured. TrainLoss may be NaN or ±Inf when a run
// diverged: JSON cannot hold those, so they are written as null and read back as NaN.
type Epoch struct {
	Epoch        int      `json:"epoch"` // 1-based
	TrainLoss    float64  `json:"train_loss"`
	TestAccuracy *float64 `json:"test_accuracy,omitempty"`
	DevAccuracy  *float64 `json:"dev_accuracy,omitempty"`
	Seconds      float64  `json:"seconds"`
}

type epochJSON struct {
	Epoch        int      `json:"epoch"`
	TrainLoss    *float64 `json:"train_loss"`
	TestAccuracy *float64 `json:"test_accuracy,omitempty"`
	DevAccuracy  *float64 `json:"dev_accuracy,omitempty"`
	Seconds      float64  `json:"seconds"`
}

// MarshalJSON writes a non-finite TrainLoss as null.
func (e Epoch) MarshalJSON() ([]byte, error) {
	j := epochJSON{Epoch: e.Epoch, TestAccuracy: e.TestAccuracy, DevAccuracy: e.DevAccuracy, Seconds: e.Seconds}
	if !math.IsNaN(e.TrainLoss) && !math.IsInf(e.TrainLoss, 0) {
		j.TrainLoss = &e.TrainLoss
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a null TrainLoss as NaN and rejects unknown fields.
func (e *Epoch) UnmarshalJSON(data []byte) error {
	var j epochJSON
	if err := strictUnmarshal(data, &j); err != nil {
		return err
	}
	*e = Epoch{Epoch: j.Epoch, TrainLoss: math.NaN(), TestAccuracy: j.TestAccuracy, DevAccuracy: j.DevAccuracy, Seconds: j.Seconds}
	if j.TrainLoss != nil {
		e.TrainLoss = *j.TrainLoss
	}
	return nil
}

// Learned holds what a morph run learned: the core's residual gate
// α = 2·sigmoid(s) and the per-wrapper scales (SST-2's shared-weight wrappers).
type Learned struct {
	Alpha  *float64           `json:"alpha,omitempty"` // nil when the model has no core (SST-2's morph)
	Scales map[string]float64 `json:"scales,omitempty"`
}

// Float returns a pointer to v, for the optional accuracy fields.
func Float(v float64) *float64 { return &v }

// FileName is the record's file name in a runs directory:
// "<dataset>_<method>_seed<k>.json", or "<dataset>_<method>-<variant>_seed<k>.json".
func FileName(dataset, method, variant string, seed int) string {
	m := method
	if variant != "" {
		m += "-" + variant
	}
	return dataset + "_" + m + "_seed" + strconv.Itoa(seed) + ".json"
}

// FileName is [FileName] for this record.
func (r *Record) FileName() string { return FileName(r.Dataset, r.Method, r.Variant, r.Seed) }

// Label names the run in messages: "mnist/morph-frozen seed 1".
func (r *Record) Label() string {
	m := r.Method
	if r.Variant != "" {
		m += " (" + r.Variant + ")"
	}
	s := fmt.Sprintf("%s/%s seed %d", r.Dataset, m, r.Seed)
	if r.Backbone != "" {
		s += " [" + r.Backbone + "]"
	}
	return s
}

// Complete reports whether the run finished.
func (r *Record) Complete() bool { return r.Status == StatusComplete }

// ConfigNumber returns a numeric configuration value, whatever its Go type
// (ints in memory, float64 after a JSON round trip).
func (r *Record) ConfigNumber(key string) (float64, bool) { return number(r.Config[key]) }

// ConfigBool returns a boolean configuration value (false when absent).
func (r *Record) ConfigBool(key string) bool {
	b, _ := r.Config[key].(bool)
	return b
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// IsFixtureBackbone reports whether a backbone name is a test fixture (e.g.
// "bert-tiny-fixture"): a fixture run is never a TinyBERT result.
func IsFixtureBackbone(backbone string) bool {
	return strings.Contains(strings.ToLower(backbone), "fixture")
}

// fixtureCaveat is the caveat of a run on a fixture backbone; reports say
// more about it next to the backbone.
const fixtureCaveat = "fixture backbone"

// Caveats lists how this run departs from the full protocol (SPEC): a quick
// run, training or test sets cut short, a fixture backbone. Empty for a full run.
// Aggregate never mixes runs with different caveats, and Write never lets a
// run with caveats replace a complete run without.
func (r *Record) Caveats() []string {
	var c []string
	if r.ConfigBool("quick") {
		c = append(c, "quick run")
	}
	if n, ok := r.ConfigNumber("limit_train"); ok && n > 0 {
		c = append(c, fmt.Sprintf("train limited to %s examples", formatInt(int64(n))))
	}
	if n, ok := r.ConfigNumber("limit_test"); ok && n > 0 {
		c = append(c, fmt.Sprintf("test limited to %s examples", formatInt(int64(n))))
	}
	if IsFixtureBackbone(r.Backbone) {
		c = append(c, fixtureCaveat)
	}
	return c
}

// nameRE is what dataset, method and variant names may hold: they become file names.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*$`)

// Validate checks that a record is internally consistent, whatever its status.
// Load applies it to every record it reads and Write to every record it writes.
func Validate(r *Record) error {
	if r == nil {
		return errors.New("nil record")
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if r.FormatVersion != FormatVersion {
		bad("format_version %d, want %d", r.FormatVersion, FormatVersion)
	}
	for _, f := range []struct{ name, v string }{{"dataset", r.Dataset}, {"method", r.Method}} {
		if !nameRE.MatchString(f.v) {
			bad("%s %q: want a lower-case name of letters, digits, '.', '+', '-'", f.name, f.v)
		}
	}
	if r.Variant != "" && !nameRE.MatchString(r.Variant) {
		bad("variant %q: want a lower-case name of letters, digits, '.', '+', '-'", r.Variant)
	}
	if r.Seed < 0 {
		bad("seed %d is negative", r.Seed)
	}
	if r.Backend.Name == "" {
		bad("backend.name is empty")
	}
	if r.Commit == "" {
		bad(`commit is empty (use "unknown")`)
	}
	if r.Config == nil {
		bad("config is missing")
	}
	if r.StartedAt.IsZero() {
		bad("started_at is missing")
	}
	if !finiteNonNeg(r.WallSeconds) {
		bad("wall_seconds %v is not a finite non-negative number", r.WallSeconds)
	}
	if r.TrainableParams < 0 || r.TotalParams < 0 || r.TrainableParams > r.TotalParams {
		bad("trainable_params %d / total_params %d: want 0 ≤ trainable ≤ total", r.TrainableParams, r.TotalParams)
	}
	if r.PeakRSSBytes < 0 {
		bad("peak_rss_bytes %d is negative", r.PeakRSSBytes)
	}
	checkAcc := func(name string, a *float64) {
		if a != nil && !(*a >= 0 && *a <= 1) {
			bad("%s %v is not a fraction in [0,1]", name, *a)
		}
	}
	for i, e := range r.Epochs {
		if e.Epoch != i+1 {
			bad("epochs[%d].epoch is %d, want %d (1-based, in order)", i, e.Epoch, i+1)
		}
		checkAcc(fmt.Sprintf("epochs[%d].test_accuracy", i), e.TestAccuracy)
		checkAcc(fmt.Sprintf("epochs[%d].dev_accuracy", i), e.DevAccuracy)
		if !finiteNonNeg(e.Seconds) {
			bad("epochs[%d].seconds %v is not a finite non-negative number", i, e.Seconds)
		}
	}
	checkAcc("final_test_accuracy", r.FinalTestAccuracy)
	checkAcc("final_dev_accuracy", r.FinalDevAccuracy)
	if r.Learned != nil {
		if a := r.Learned.Alpha; a != nil && (math.IsNaN(*a) || math.IsInf(*a, 0)) {
			bad("learned.alpha %v is not finite", *a)
		}
		for k, v := range r.Learned.Scales {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				bad("learned.scales[%q] %v is not finite", k, v)
			}
		}
	}

	switch r.Status {
	case StatusComplete:
		if r.Error != "" {
			bad("a complete run carries error %q", r.Error)
		}
		if r.FinalTestAccuracy == nil {
			bad("a complete run needs final_test_accuracy")
		}
		if len(r.Epochs) == 0 {
			bad("a complete run needs at least one epoch")
		}
		if r.TotalParams <= 0 {
			bad("a complete run needs total_params > 0")
		}
		if r.FinishedAt.Before(r.StartedAt) {
			bad("finished_at %s is before started_at %s", r.FinishedAt.Format(time.RFC3339), r.StartedAt.Format(time.RFC3339))
		}
	case StatusFailed:
		if r.Error == "" {
			bad("a failed run needs its error")
		}
		if r.FinalTestAccuracy != nil || r.FinalDevAccuracy != nil {
			bad("a failed run must not carry final accuracies")
		}
	default:
		bad("status %q: want %q or %q", r.Status, StatusComplete, StatusFailed)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Verify reports whether a record is a finished run that need not be redone:
// valid, complete, and with every configured epoch ("epochs" in Config) recorded.
func Verify(r *Record) error {
	if err := Validate(r); err != nil {
		return err
	}
	if !r.Complete() {
		return fmt.Errorf("%s: run failed: %s", r.Label(), r.Error)
	}
	if n, ok := r.ConfigNumber("epochs"); ok && int(n) != len(r.Epochs) {
		return fmt.Errorf("%s: %d epochs recorded, config says %v", r.Label(), len(r.Epochs), n)
	}
	return nil
}

func finiteNonNeg(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
