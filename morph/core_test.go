package morph

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/gradcheck"
	"github.com/morphreuse/morphreuse-go/internal/nn"
)

// tinyCore keeps every test fast: d = 4, hidden = int(4·2.5) = 10.
var tinyCore = CoreConfig{Dim: 4, Expand: 2.5}

func TestCoreForwardHandComputed(t *testing.T) {
	// d = 2, hidden = int(2·1.5) = 3; x = (1, −1).
	//   W1·x + b1 = (1, −1, 0): mean 0, biased variance 2/3
	//   LN (γ=1, β=0) = (n, −n, 0) with n = 1/√(2/3 + 1e-5) = 1.2247356859…
	//   W2 passes the first two hidden units through: (GELU(n), GELU(−n)), + b2 = (0.5, 0)
	//   y = x + α·((GELU(n), GELU(−n)) + b2)
	cfg := CoreConfig{Dim: 2, Expand: 1.5}
	w := coreWeights{
		w1: matrix{2, 3, []float64{1, 0, 1, 0, 1, 1}}, b1: []float64{0, 0, 0},
		gain: []float64{1, 1, 1}, offset: []float64{0, 0, 0},
		w2: matrix{3, 2, []float64{1, 0, 0, 1, 7, 7}}, b2: []float64{0.5, 0},
	}
	cases := []struct {
		name string
		s    float64
		want []float64
	}{
		{"s=0 (α=1)", 0, []float64{2.5896015200069598, -1.1351341659014305}},
		{"s=−3 (α=2·sigmoid(−3)≈0.0949, the initial value)", -3, []float64{1.1507764801814349, -1.012817711627995}},
	}
	x := tensors.FromValue([][]float64{{1, -1}})
	ctx, exec := forward(t, 0, func(ctx *context.Context, x *Node) *Node {
		return NewCore(ctx.In("core"), cfg).Apply(x)
	}, x)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w.s = c.s
			setCore(t, ctx, "/core", w)
			assertClose(t, "y", flat(exec.MustExec(x)[0]), c.want, 1e-12)
		})
	}
}

func TestCoreForwardMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	w := randCoreWeights(rng, tinyCore)
	x := randMatrix(rng, 3, tinyCore.Dim, 1)
	ctx, exec := forward(t, 0, func(ctx *context.Context, x *Node) *Node {
		return NewCore(ctx.In("core"), tinyCore).Apply(x)
	}, x.tensor())
	setCore(t, ctx, "/core", w)
	assertClose(t, "core(x)", flat(exec.MustExec(x.tensor())[0]), referenceCore(x, w).data, 1e-12)

	// Rank-3 input [2, 3, d] gives the same rows.
	x3 := tensors.FromFlatDataAndDimensions(slices.Concat(x.data, x.data), 2, 3, tinyCore.Dim)
	exec3 := context.MustNewExec(testBackend(t), ctx.Reuse(), func(ctx *context.Context, x *Node) *Node {
		return NewCore(ctx.In("core"), tinyCore).Apply(x)
	})
	want := referenceCore(x, w).data
	assertClose(t, "core(x rank 3)", flat(exec3.MustExec(x3)[0]), slices.Concat(want, want), 1e-12)
}

func TestCoreDefaultsFollowSpec(t *testing.T) {
	cfg := DefaultCoreConfig()
	if cfg.Dim != 128 || cfg.Hidden() != 320 {
		t.Fatalf("default core: dim %d hidden %d, want 128 and 320", cfg.Dim, cfg.Hidden())
	}
	ctx, _ := forward(t, 0, func(ctx *context.Context, x *Node) *Node {
		return NewCore(ctx.In("model").In("core"), cfg).Apply(x)
	}, tensors.FromScalarAndDimensions(float32(0), 1, 128))
	// W1 128×320 + 320, LN 2×320, W2 320×128 + 128, s: 41,280 + 640 + 41,088 + 1.
	if got := CountParameters(ctx.In("model")); got != (Params{83009, 83009}) {
		t.Errorf("core parameters: %+v, want 83,009 all trainable", got)
	}
	alphas, err := Alphas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alphas) != 1 || alphas[0].Name != "model/core" || math.Abs(alphas[0].Value-2/(1+math.Exp(3))) > 1e-7 {
		t.Errorf("Alphas = %+v, want [{model/core 0.0948517}]", alphas)
	}
	// nn.Linear's default init: |W1| ≤ 1/√128, |W2| ≤ 1/√320.
	for scope, bound := range map[string]float64{"/model/core/fc1": 1 / math.Sqrt(128), "/model/core/fc2": 1 / math.Sqrt(320)} {
		for _, name := range []string{"weights", "biases"} {
			values := tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName(scope, name).MustValue())
			for _, v := range values {
				if math.Abs(float64(v)) > bound {
					t.Fatalf("%s/%s: |%g| > 1/√fan_in = %g", scope, name, v, bound)
				}
			}
		}
	}
}

// twoAdapters is a tiny model in the SPEC's shape: Adapter(6→5) → ReLU → Adapter(5→3), one core.
func twoAdapters(frozen bool) func(ctx *context.Context, x *Node) *Node {
	return func(ctx *context.Context, x *Node) *Node {
		core := NewCore(ctx.In("core"), tinyCore)
		h := Adapter(ctx.In("adapter1"), x, 5, core, frozen)
		return Adapter(ctx.In("adapter2"), Max(h, ZerosLike(h)), 3, core, frozen)
	}
}

func TestAdapterForwardMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	w := randCoreWeights(rng, tinyCore)
	in1, out1 := randMatrix(rng, 6, 4, 0.5), randMatrix(rng, 4, 5, 0.5)
	in2, out2 := randMatrix(rng, 5, 4, 0.5), randMatrix(rng, 4, 3, 0.5)
	x := randMatrix(rng, 2, 6, 1)

	ctx, exec := forward(t, 0, twoAdapters(false), x.tensor())
	setCore(t, ctx, "/core", w)
	setVar(t, ctx, "/adapter1/in_proj", "weights", in1.tensor())
	setVar(t, ctx, "/adapter1/out_proj", "weights", out1.tensor())
	setVar(t, ctx, "/adapter2/in_proj", "weights", in2.tensor())
	setVar(t, ctx, "/adapter2/out_proj", "weights", out2.tensor())

	h := mul(referenceCore(mul(x, in1, nil), w), out1, nil)
	h = mapMatrix(h, func(v float64) float64 { return max(v, 0) })
	want := mul(referenceCore(mul(h, in2, nil), w), out2, nil)
	assertClose(t, "adapters", flat(exec.MustExec(x.tensor())[0]), want.data, 1e-12)
}

func TestAdapterInitAndFreezing(t *testing.T) {
	for _, frozen := range []bool{true, false} {
		ctx, _ := forward(t, 3, twoAdapters(frozen), tensors.FromScalarAndDimensions(0.0, 1, 6))
		for v := range nn.Parameters(ctx) {
			isProjection := strings.HasSuffix(v.Scope(), "_proj")
			if !isProjection {
				if !v.Trainable {
					t.Errorf("frozen=%v: core variable %s is frozen; the core always trains", frozen, v.ScopeAndName())
				}
				continue
			}
			if v.Trainable == frozen {
				t.Errorf("frozen=%v: %s has Trainable=%v", frozen, v.ScopeAndName(), v.Trainable)
			}
			fanIn, fanOut := v.Shape().Dimensions[0], v.Shape().Dimensions[1]
			bound := math.Sqrt(6 / float64(fanIn+fanOut)) // xavier_uniform_
			for _, x := range flat(v.MustValue()) {
				if math.Abs(x) > bound {
					t.Fatalf("%s: |%g| > Xavier bound %g", v.ScopeAndName(), x, bound)
				}
			}
		}
	}
}

func TestCoreVariablesExistOnce(t *testing.T) {
	ctx, _ := forward(t, 0, twoAdapters(false), tensors.FromScalarAndDimensions(0.0, 1, 6))
	var names []string
	for v := range ctx.IterVariablesInScope() {
		if v.Scope() != "/" {
			names = append(names, v.ScopeAndName())
		}
	}
	want := []string{
		"/adapter1/in_proj/weights",
		"/core/fc1/weights", "/core/fc1/biases", "/core/norm/gain", "/core/norm/offset",
		"/core/fc2/weights", "/core/fc2/biases", "/core/scale_param",
		"/adapter1/out_proj/weights",
		"/adapter2/in_proj/weights", "/adapter2/out_proj/weights",
	}
	if !slices.Equal(names, want) {
		t.Errorf("variables:\n  %v\nwant\n  %v", names, want)
	}
}

// lossOf is Σ y² (a scalar depending on every output) over a fixed input.
func lossOf(model func(ctx *context.Context, x *Node) *Node, x *tensors.Tensor) func(ctx *context.Context, g *Graph) *Node {
	return func(ctx *context.Context, g *Graph) *Node {
		return ReduceAllSum(Square(model(ctx, Const(g, x))))
	}
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	x := randMatrix(rng, 3, 6, 1).tensor()
	cases := []struct {
		name    string
		frozen  bool
		checked int
	}{
		{"morph-trained: core and projections", false, 7 + 4},
		{"morph-frozen: core only", true, 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, _ := forward(t, 5, twoAdapters(c.frozen), x)
			// Move s off −3 so the core's contribution (α≈0.09) is not tiny next to the identity.
			setVar(t, ctx, "/core", CoreScaleVar, tensors.FromScalar(0.5))
			n := gradcheck.Variables(t, testBackend(t), ctx.Reuse(), lossOf(twoAdapters(c.frozen), x), gradcheck.Options{})
			if n != c.checked {
				t.Errorf("checked %d trainable variables, want %d", n, c.checked)
			}
			assertNoGradientFallbacks(t)
		})
	}
}

func TestSharedCoreGradientIsSumOverAdapters(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	x1, x2 := randMatrix(rng, 2, 6, 1).tensor(), randMatrix(rng, 2, 3, 1).tensor()
	// Two adapters of different shapes on one core; loss_i depends only on adapter i.
	losses := func(ctx *context.Context, g *Graph) (l1, l2 *Node) {
		core := NewCore(ctx.In("core"), tinyCore)
		y1 := Adapter(ctx.In("a1"), Const(g, x1), 2, core, false)
		y2 := Adapter(ctx.In("a2"), Const(g, x2), 5, core, false)
		return ReduceAllSum(Square(y1)), ReduceAllSum(Square(y2))
	}
	ctx := context.New()
	ctx.SetRNGStateFromSeed(7)
	var coreVars []string
	exec := context.MustNewExec(testBackend(t), ctx, func(ctx *context.Context, g *Graph) []*Node {
		l1, l2 := losses(ctx, g)
		var nodes []*Node
		coreVars = coreVars[:0]
		for v := range ctx.In("core").IterVariablesInScope() {
			coreVars = append(coreVars, v.ScopeAndName())
			nodes = append(nodes, v.ValueGraph(g))
		}
		// Gradients of l1, of l2 and of l1+l2 with respect to the core's variables.
		return slices.Concat(Gradient(l1, nodes...), Gradient(l2, nodes...), Gradient(Add(l1, l2), nodes...))
	})
	grads := exec.MustExec()
	n := len(coreVars)
	if n != 7 {
		t.Fatalf("core has %d variables (%v), want 7", n, coreVars)
	}
	for i, name := range coreVars {
		g1, g2, sum := flat(grads[i]), flat(grads[n+i]), flat(grads[2*n+i])
		want := make([]float64, len(g1))
		nonzero1, nonzero2 := false, false
		for j := range want {
			want[j] = g1[j] + g2[j]
			nonzero1 = nonzero1 || g1[j] != 0
			nonzero2 = nonzero2 || g2[j] != 0
		}
		if !nonzero1 || !nonzero2 {
			t.Errorf("%s: each adapter should contribute (nonzero: a1 %v, a2 %v)", name, nonzero1, nonzero2)
		}
		assertClose(t, name, sum, want, 1e-12)
	}
	assertNoGradientFallbacks(t)
}
