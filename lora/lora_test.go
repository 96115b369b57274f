package lora

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/internal/gradcheck"
	"github.com/morphreuse/morphreuse-go/internal/gradfix"
	"github.com/morphreuse/morphreuse-go/internal/nn"
)

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	return backend.MustDefault().Backend
}

// mlp is the tiny model of these tests: fc1 (6→hidden) → ReLU → fc2 (→3), both
// lora.Dense, then a head that is a plain nn.Linear (LoRA cannot wrap it; it
// stays trainable, so an adapter file must carry it).
func mlp(hidden int) func(ctx *context.Context, x *Node) *Node {
	return func(ctx *context.Context, x *Node) *Node {
		h := Dense(ctx.In("fc1"), x, hidden, true)
		h = Dense(ctx.In("fc2"), Max(h, ZerosLike(h)), 3, true)
		return nn.Linear(ctx.In("head"), h, 2, false)
	}
}

// model is one built and initialised instance of a model function.
type model struct {
	ctx  *context.Context // the model's scope, "/model"
	root *context.Context
	fn   func(ctx *context.Context, x *Node) *Node
}

// newModel builds fn under "/model" of a fresh context seeded with seed and
// runs it once on x, so that its variables exist with their initial values.
func newModel(t *testing.T, seed int64, fn func(ctx *context.Context, x *Node) *Node, x *tensors.Tensor) *model {
	t.Helper()
	root := context.New()
	if err := root.SetRNGStateFromSeed(seed); err != nil {
		t.Fatal(err)
	}
	m := &model{ctx: root.In("model"), root: root, fn: fn}
	m.run(t, x)
	return m
}

// run builds a new executor (so it sees the current adapters) and returns the output on x.
func (m *model) run(t *testing.T, x *tensors.Tensor) *tensors.Tensor {
	t.Helper()
	// Checked(false): the variables exist already (or are created by this first run).
	exec := context.MustNewExec(testBackend(t), m.root.Checked(false), func(ctx *context.Context, x *Node) *Node {
		return m.fn(ctx.In("model"), x)
	})
	defer exec.Finalize()
	return exec.MustExec(x)[0]
}

// runF64 is run, as float64 values.
func (m *model) runF64(t *testing.T, x *tensors.Tensor) []float64 { return toFloat64(m.run(t, x)) }

func (m *model) variable(t *testing.T, scope, name string) *context.Variable {
	t.Helper()
	v := m.root.GetVariableByScopeAndName("/model/"+scope, name)
	if v == nil {
		t.Fatalf("no variable /model/%s/%s", scope, name)
	}
	return v
}

func (m *model) set(t *testing.T, scope, name string, value *tensors.Tensor) {
	t.Helper()
	if err := m.variable(t, scope, name).SetValue(value); err != nil {
		t.Fatal(err)
	}
}

// randomize gives every variable named name under the model random values (e.g. a "trained" B).
func (m *model) randomize(t *testing.T, seed uint64, names ...string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	for v := range nn.Parameters(m.ctx) {
		if !slices.Contains(names, v.Name()) {
			continue
		}
		values := make([]float64, v.Shape().Size())
		for i := range values {
			values[i] = 0.5 * rng.NormFloat64()
		}
		if err := v.SetValue(fromFloat64(values, v.DType(), v.Shape().Dimensions...)); err != nil {
			t.Fatal(err)
		}
	}
}

func randInput(seed uint64, dtypeF32 bool, rows, cols int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	values := make([]float64, rows*cols)
	for i := range values {
		values[i] = rng.NormFloat64()
	}
	if dtypeF32 {
		f := make([]float32, len(values))
		for i, v := range values {
			f[i] = float32(v)
		}
		return tensors.FromFlatDataAndDimensions(f, rows, cols)
	}
	return tensors.FromFlatDataAndDimensions(values, rows, cols)
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol || math.IsNaN(got[i]) {
			t.Errorf("%s[%d] = %.10g, want %.10g (diff %.3g)", what, i, got[i], want[i], got[i]-want[i])
		}
	}
}

func TestForwardHandComputed(t *testing.T) {
	// One layer, in = out = 2: W = I, b = (1, 0), x = (1, 1): base output (2, 1).
	one := func(ctx *context.Context, x *Node) *Node { return Dense(ctx.In("fc"), x, 2, true) }
	x := tensors.FromValue([][]float64{{1, 1}})
	cases := []struct {
		name string
		cfg  Config
		a, b [][]float64 // A [in, r], B [r, out]
		want []float64
	}{
		// x·A = 3, (x·A)·B = (9, −3), scaling 2/1: (2, 1) + (18, −6).
		{"r=1 α=2", Config{Rank: 1, Alpha: 2}, [][]float64{{1}, {2}}, [][]float64{{3, -1}}, []float64{20, -5}},
		// A·B = I, so the update is scaling·x: scaling α/r = 0.5.
		{"r=4 α=2", Config{Rank: 4, Alpha: 2}, [][]float64{{1, 0, 0, 0}, {0, 1, 0, 0}}, [][]float64{{1, 0}, {0, 1}, {0, 0}, {0, 0}}, []float64{2.5, 1.5}},
		// rsLoRA: scaling α/√r = 1.
		{"r=4 α=2 rsLoRA", Config{Rank: 4, Alpha: 2, RSLoRA: true}, [][]float64{{1, 0, 0, 0}, {0, 1, 0, 0}}, [][]float64{{1, 0}, {0, 1}, {0, 0}, {0, 0}}, []float64{3, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newModel(t, 0, one, x)
			m.set(t, "fc", "weights", tensors.FromValue([][]float64{{1, 0}, {0, 1}}))
			m.set(t, "fc", "biases", tensors.FromValue([]float64{1, 0}))
			assertClose(t, "before Apply (plain nn.Linear)", m.runF64(t, x), []float64{2, 1}, 0)

			c.cfg.Targets = []string{"fc"}
			if _, err := Apply(m.ctx, c.cfg); err != nil {
				t.Fatal(err)
			}
			m.set(t, "fc", AVar, tensors.FromValue(c.a))
			m.set(t, "fc", BVar, tensors.FromValue(c.b))
			assertClose(t, "y", m.runF64(t, x), c.want, 1e-12)
		})
	}
}

func TestApplySelectsLayersStrictly(t *testing.T) {
	x := randInput(1, false, 2, 6)
	cases := []struct {
		name    string
		targets []string
		want    []string // wrapped, in model order
		wantErr string
	}{
		{"exact names", []string{"fc1", "fc2"}, []string{"fc1", "fc2"}, ""},
		{"glob", []string{"fc*"}, []string{"fc1", "fc2"}, ""},
		{"model order, duplicates once", []string{"fc2", "fc1", "fc?"}, []string{"fc1", "fc2"}, ""},
		{"typo", []string{"fc1", "fc3"}, nil, `target "fc3" matches no layer (Dense layers under "/model": fc1, fc2)`},
		{"plain nn.Linear is not a Dense layer", []string{"head"}, nil, `target "head" matches no layer`},
		{"bad pattern", []string{"fc["}, nil, `target "fc[" is not a valid pattern`},
		{"no targets", nil, nil, "no targets"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newModel(t, 0, mlp(5), x)
			got, err := Apply(m.ctx, Config{Rank: 2, Alpha: 4, Targets: c.targets})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Apply(%q) error = %v, want it to contain %q", c.targets, err, c.wantErr)
				}
				// A failed Apply changes nothing.
				if w := m.variable(t, "fc1", "weights"); !w.Trainable || Wrapped(m.ctx) != nil ||
					m.root.InspectVariableIfLoaded("/model/fc1", AVar) != nil {
					t.Error("a failed Apply changed the model")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) || !slices.Equal(Wrapped(m.ctx), c.want) {
				t.Errorf("wrapped %v (Wrapped: %v), want %v", got, Wrapped(m.ctx), c.want)
			}
		})
	}
}

func TestApplyMatchesSuffixesAndGlobsInNestedScopes(t *testing.T) {
	encoder := func(ctx *context.Context, x *Node) *Node {
		for i := range 2 {
			layer := ctx.Inf("layer_%d", i).In("attention")
			x = Add(Dense(layer.In("query"), x, 6, true), Dense(layer.In("value"), x, 6, true))
		}
		return Dense(ctx.In("classifier"), x, 2, true)
	}
	x := randInput(2, false, 1, 6)
	cases := []struct {
		targets []string
		want    []string
	}{
		{[]string{"query"}, []string{"layer_0/attention/query", "layer_1/attention/query"}}, // PEFT's suffix rule
		{[]string{"layer_1/attention/*"}, []string{"layer_1/attention/query", "layer_1/attention/value"}},
		{[]string{"attention/value", "classifier"}, []string{"layer_0/attention/value", "layer_1/attention/value", "classifier"}},
	}
	for _, c := range cases {
		m := newModel(t, 0, encoder, x)
		got, err := Apply(m.ctx, Config{Rank: 2, Alpha: 4, Targets: c.targets})
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Apply(%q) = %v, %v; want %v", c.targets, got, err, c.want)
		}
	}
}

func TestApplyRefusesBadStates(t *testing.T) {
	cfg := Config{Rank: 2, Alpha: 4, Targets: []string{"fc1"}}
	if _, err := Apply(context.New().In("model"), cfg); err == nil || !strings.Contains(err.Error(), "build the model graph once") {
		t.Errorf("Apply before the model exists: %v", err)
	}
	m := newModel(t, 0, mlp(5), randInput(1, false, 1, 6))
	if _, err := Apply(m.ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(m.ctx, cfg); err == nil || !strings.Contains(err.Error(), "already applied") {
		t.Errorf("second Apply: %v", err)
	}
	for _, bad := range []Config{{Rank: 0, Alpha: 1, Targets: []string{"fc1"}}, {Rank: 2, Alpha: math.NaN(), Targets: []string{"fc1"}}} {
		if _, err := Apply(newModel(t, 0, mlp(5), randInput(1, false, 1, 6)).ctx, bad); err == nil {
			t.Errorf("Apply(%+v) accepted", bad)
		}
	}
}

func TestApplyFreezesBaseAndStartsAsNoOp(t *testing.T) {
	x := randInput(3, true, 4, 6)
	m := newModel(t, 1, mlp(64), x)
	before := m.runF64(t, x)
	if _, err := Apply(m.ctx, Config{Rank: 4, Alpha: 8, Targets: []string{"fc1", "fc2"}}); err != nil {
		t.Fatal(err)
	}
	// B = 0: a fresh adapter changes nothing, exactly.
	assertClose(t, "fresh adapter", m.runF64(t, x), before, 0)

	want := map[string]bool{ // Trainable, by relative name.
		"fc1/weights": false, "fc1/biases": false, "fc1/lora_A": true, "fc1/lora_B": true,
		"fc2/weights": false, "fc2/biases": false, "fc2/lora_A": true, "fc2/lora_B": true,
		"head/weights": true,
	}
	got := map[string]bool{}
	for v := range nn.Parameters(m.ctx) {
		got[nn.RelativeName(m.ctx.Scope(), v)] = v.Trainable
	}
	if len(got) != len(want) {
		t.Errorf("parameters %v, want %v", got, want)
	}
	for name, trainable := range want {
		if g, ok := got[name]; !ok || g != trainable {
			t.Errorf("%s: Trainable=%v (present %v), want %v", name, g, ok, trainable)
		}
	}
	// PEFT's init: A kaiming-uniform(a=√5) = U(±1/√in), B zeros.
	for layer, in := range map[string]int{"fc1": 6, "fc2": 64} {
		a := toFloat64(m.variable(t, layer, AVar).MustValue())
		bound := 1 / math.Sqrt(float64(in))
		maxAbs := 0.0
		for _, v := range a {
			maxAbs = math.Max(maxAbs, math.Abs(v))
		}
		if maxAbs > bound || maxAbs < bound/2 {
			t.Errorf("%s/lora_A: max |a| = %g, want within (bound/2, bound = 1/√%d = %g]", layer, maxAbs, in, bound)
		}
		if b := toFloat64(m.variable(t, layer, BVar).MustValue()); slices.ContainsFunc(b, func(v float64) bool { return v != 0 }) {
			t.Errorf("%s/lora_B is not zero: %v", layer, b)
		}
	}
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	x := randInput(4, false, 3, 6)
	m := newModel(t, 2, mlp(5), x)
	if _, err := Apply(m.ctx, Config{Rank: 2, Alpha: 3, Targets: []string{"fc*"}}); err != nil {
		t.Fatal(err)
	}
	m.run(t, x)             // Initialise A.
	m.randomize(t, 1, BVar) // B ≠ 0, so A's gradient is not trivially zero.
	loss := func(ctx *context.Context, g *Graph) *Node {
		return ReduceAllSum(Square(mlp(5)(ctx.In("model"), Const(g, x))))
	}
	// fc1 A, B; fc2 A, B; head weights. Frozen W and b get no gradient.
	if n := gradcheck.Variables(t, testBackend(t), m.root.Checked(false), loss, gradcheck.Options{}); n != 5 {
		t.Errorf("checked %d trainable variables, want 5", n)
	}
	if f := gradfix.Fallbacks(); f != 0 {
		t.Errorf("gradfix fell back %d times", f)
	}
}

func TestMergeAndUnloadMatchesUnmerged(t *testing.T) {
	x := randInput(5, true, 8, 6) // float32, as trained
	m := newModel(t, 3, mlp(16), x)
	if _, err := Apply(m.ctx, Config{Rank: 4, Alpha: 8, Targets: []string{"fc1", "fc2"}}); err != nil {
		t.Fatal(err)
	}
	m.run(t, x)
	m.randomize(t, 2, AVar, BVar) // A "trained" adapter: a large update (scaling 2).
	unmerged := m.runF64(t, x)
	merged, err := MergeAndUnload(m.ctx)
	if err != nil || !slices.Equal(merged, []string{"fc1", "fc2"}) {
		t.Fatalf("MergeAndUnload = %v, %v", merged, err)
	}
	assertClose(t, "merged vs unmerged", m.runF64(t, x), unmerged, 1e-5)

	for _, layer := range []string{"fc1", "fc2"} {
		for _, name := range []string{AVar, BVar, GateVar} {
			if m.root.InspectVariableIfLoaded("/model/"+layer, name) != nil {
				t.Errorf("%s/%s still exists after unload", layer, name)
			}
		}
		if m.variable(t, layer, "weights").Trainable {
			t.Errorf("%s/weights unfrozen by the merge", layer)
		}
	}
	if Wrapped(m.ctx) != nil {
		t.Errorf("Wrapped after unload = %v", Wrapped(m.ctx))
	}
	if _, err := MergeAndUnload(m.ctx); err == nil {
		t.Error("second MergeAndUnload succeeded")
	}
}

func TestDisableGivesBaseOutputExactly(t *testing.T) {
	x := randInput(6, true, 4, 6)
	m := newModel(t, 4, mlp(8), x)
	base := m.runF64(t, x)
	if _, err := Apply(m.ctx, Config{Rank: 2, Alpha: 4, Targets: []string{"fc1", "fc2"}}); err != nil {
		t.Fatal(err)
	}
	m.run(t, x)
	m.randomize(t, 3, BVar)
	// One executor for all three runs: Disable/Enable act on compiled graphs too.
	exec := context.MustNewExec(testBackend(t), m.root.Reuse(), func(ctx *context.Context, x *Node) *Node { return mlp(8)(ctx.In("model"), x) })
	adapted := toFloat64(exec.MustExec(x)[0])
	if slices.Equal(adapted, base) {
		t.Fatal("the adapter should change the output")
	}
	if err := Disable(m.ctx); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "disabled", toFloat64(exec.MustExec(x)[0]), base, 0)
	if err := Enable(m.ctx); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "re-enabled", toFloat64(exec.MustExec(x)[0]), adapted, 0)
	if err := Disable(context.New()); err == nil {
		t.Error("Disable without an adapter succeeded")
	}
}
