package morph

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/gradcheck"
	"github.com/morphreuse/morphreuse-go/internal/nn"
)

func TestLinearWrapperSharedHandComputed(t *testing.T) {
	// Both wrappers use the one shared (W, b) of shape 2×2: x·W + b = (1, 2) + (0, −3) = (1, −1).
	//   w1, scale 2: GELU((2, −2)) = (1.95449973…, −0.04550026…)
	//   w2, scale 1: GELU((1, −1)) = (0.84134474…, −0.15865525…)
	x := tensors.FromValue([][]float64{{1, 2}})
	ctx, exec := forward(t, 0, func(ctx *context.Context, x *Node) *Node {
		shared := NewSharedWeights(ctx.In("shared"))
		y1 := LinearWrapperShared(ctx.In("w1"), x, 2, shared)
		y2 := LinearWrapperShared(ctx.In("w2"), x, 2, shared)
		return Concatenate([]*Node{y1, y2}, -1)
	}, x)
	setVar(t, ctx, "/shared/2x2", "weights", tensors.FromValue([][]float64{{1, 0}, {0, 1}}))
	setVar(t, ctx, "/shared/2x2", "biases", tensors.FromValue([]float64{0, -3}))
	setVar(t, ctx, "/w1", WrapperScaleVar, tensors.FromScalar(2.0))
	want := []float64{1.9544997361036416, -0.04550026389635842, 0.8413447460685429, -0.15865525393145707}
	assertClose(t, "y", flat(exec.MustExec(x)[0]), want, 1e-12)

	scales, err := Scales(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scales, []Named{{"w1", 2}, {"w2", 1}}) {
		t.Errorf("Scales = %v, want [{w1 2} {w2 1}]", scales)
	}
}

// bertLike wraps five linears the way SST-2's morph model does: two 4×4
// (query, key), 4×6 (intermediate), 6×4 (output) and a 4×2 classifier.
func bertLike(ctx *context.Context, x *Node) *Node {
	shared := NewSharedWeights(ctx.In("shared"))
	q := LinearWrapperShared(ctx.In("query"), x, 4, shared)
	k := LinearWrapperShared(ctx.In("key"), x, 4, shared)
	h := LinearWrapperShared(ctx.In("intermediate"), Add(q, k), 6, shared)
	h = LinearWrapperShared(ctx.In("output"), h, 4, shared)
	return LinearWrapperShared(ctx.In("classifier"), h, 2, shared)
}

func TestSharedWeightsOnePairPerShape(t *testing.T) {
	ctx, _ := forward(t, 1, bertLike, tensors.FromScalarAndDimensions(0.0, 2, 4))
	var got []string
	for v := range ctx.IterVariablesInScope() {
		if v.Scope() != "/" {
			got = append(got, v.ScopeAndName())
		}
	}
	want := []string{
		"/query/scale", "/shared/4x4/weights", "/shared/4x4/biases",
		"/key/scale", // same shape as query: no new pair
		"/intermediate/scale", "/shared/4x6/weights", "/shared/4x6/biases",
		"/output/scale", "/shared/6x4/weights", "/shared/6x4/biases",
		"/classifier/scale", "/shared/4x2/weights", "/shared/4x2/biases",
	}
	if !slices.Equal(got, want) {
		t.Errorf("variables\n  %v\nwant\n  %v", got, want)
	}
	// (16+4) + (24+6) + (24+4) + (8+2) shared, plus 5 scales.
	if p := CountParameters(ctx); p != (Params{93, 93}) {
		t.Errorf("CountParameters = %+v, want 93 (shared pairs once each, plus 5 scales)", p)
	}
	// Init: W Xavier-uniform, b zeros, scales 1.
	for v := range nn.Parameters(ctx) {
		values := flat(v.MustValue())
		switch v.Name() {
		case "weights":
			bound := math.Sqrt(6 / float64(v.Shape().Dimensions[0]+v.Shape().Dimensions[1]))
			for _, x := range values {
				if math.Abs(x) > bound || x == 0 {
					t.Fatalf("%s: %g outside Xavier (0, %g]", v.ScopeAndName(), x, bound)
				}
			}
		case "biases":
			if slices.ContainsFunc(values, func(x float64) bool { return x != 0 }) {
				t.Errorf("%s = %v, want zeros", v.ScopeAndName(), values)
			}
		case WrapperScaleVar:
			if values[0] != 1 {
				t.Errorf("%s = %v, want 1", v.ScopeAndName(), values)
			}
		}
	}
}

func TestSharedWeightsGradientsMatchFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	x := randMatrix(rng, 3, 4, 1).tensor()
	ctx, _ := forward(t, 2, bertLike, x)
	// 4 shared pairs (8 variables) + 5 scales; the 4×4 pair gets the gradient from both query and key.
	if n := gradcheck.Variables(t, testBackend(t), ctx.Reuse(), lossOf(bertLike, x), gradcheck.Options{}); n != 13 {
		t.Errorf("checked %d variables, want 13", n)
	}
	assertNoGradientFallbacks(t)
}

func TestTwoModelsShareNothing(t *testing.T) {
	// The seed's SharedWeight cache is a class attribute: a second model would
	// silently reuse the first one's weights. Here each model has its own context.
	x := tensors.FromValue([][]float64{{1, -2, 3, 0.5}})
	ctxA, execA := forward(t, 1, bertLike, x)
	ctxB, execB := forward(t, 1, bertLike, x)
	if ctxA.NumVariables() != ctxB.NumVariables() {
		t.Fatalf("models differ: %d vs %d variables", ctxA.NumVariables(), ctxB.NumVariables())
	}
	yB := flat(execB.MustExec(x)[0])
	if !slices.Equal(flat(execA.MustExec(x)[0]), yB) {
		t.Fatal("same seed, same model: outputs should match")
	}
	for v := range ctxA.IterVariablesInScope() {
		if w := ctxB.GetVariableByScopeAndName(v.Scope(), v.Name()); w == v {
			t.Errorf("%s is the same variable in both models", v.ScopeAndName())
		}
	}
	// Changing model A's shared weights leaves model B alone.
	setVar(t, ctxA, "/shared/4x4", "weights", tensors.FromScalarAndDimensions(0.25, 4, 4))
	if slices.Equal(flat(execA.MustExec(x)[0]), yB) {
		t.Error("model A's output did not change with its weights")
	}
	if got := flat(execB.MustExec(x)[0]); !slices.Equal(got, yB) {
		t.Errorf("model B's output changed with model A's weights: %v -> %v", yB, got)
	}
}
