package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/internal/gradcheck"
	"github.com/morphreuse/morphreuse-go/internal/gradfix"
)

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	return backend.MustDefault().Backend
}

// run builds fn on ctx (which must already hold every variable: ctx is put in
// Reuse mode, so a missing one panics) and returns its flat float64 output.
func run(t *testing.T, ctx *context.Context, fn func(ctx *context.Context, x *Node) *Node, x *tensors.Tensor) []float64 {
	t.Helper()
	out := context.MustExecOnce(testBackend(t), ctx, fn, x)
	return tensors.MustCopyFlatData[float64](out)
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol {
			t.Errorf("%s[%d] = %.9g, want %.9g", what, i, got[i], want[i])
		}
	}
}

func TestLinearForwardHandComputed(t *testing.T) {
	// x·W + b with W = [[1,0],[0,1],[1,1]] (stored [in, out]) and b = [0.5, −1]:
	// row (1,2,3) → (1+3, 2+3) + b = (4.5, 4); row (4,5,6) → (10, 11) + b = (10.5, 10).
	w := [][]float64{{1, 0}, {0, 1}, {1, 1}}
	b := []float64{0.5, -1}
	cases := []struct {
		name string
		x    *tensors.Tensor
		bias bool
		want []float64
	}{
		{"rank2", tensors.FromValue([][]float64{{1, 2, 3}, {4, 5, 6}}), true, []float64{4.5, 4, 10.5, 10}},
		{"rank3_flattened", tensors.FromValue([][][]float64{{{1, 2, 3}, {4, 5, 6}}}), true, []float64{4.5, 4, 10.5, 10}},
		{"no_bias", tensors.FromValue([][]float64{{1, 2, 3}, {4, 5, 6}}), false, []float64{4, 5, 10, 11}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.New()
			ctx.In("lin").VariableWithValue(WeightsVar, w)
			if c.bias {
				ctx.In("lin").VariableWithValue(BiasesVar, b)
			}
			got := run(t, ctx.Reuse(), func(ctx *context.Context, x *Node) *Node {
				y := Linear(ctx.In("lin"), x, 2, c.bias)
				if want := append(x.Shape().Dimensions[:x.Rank()-1:x.Rank()-1], 2); !shapes.Make(x.DType(), want...).Equal(y.Shape()) {
					t.Errorf("output shape %s, want dims %v", y.Shape(), want)
				}
				return y
			}, c.x)
			assertClose(t, "y", got, c.want, 1e-12)
		})
	}
}

func TestLayerNormForwardHandComputed(t *testing.T) {
	// Row 1: (1,2,3,4): mean 2.5, biased variance 1.25 → (x−2.5)/√(1.25+eps).
	// Row 2: (0,0,.002,.002): mean .001, variance 1e-6, so eps=1e-5 matters:
	// ±.001/√(1.1e-5) = ±0.30151134 (GoMLX's default eps 1e-3 would give ±0.0316).
	const eps = 1e-5
	x := tensors.FromValue([][]float64{{1, 2, 3, 4}, {0, 0, .002, .002}})
	s1 := 1 / math.Sqrt(1.25+eps)
	s2 := .001 / math.Sqrt(1e-6+eps)
	gain, offset := []float64{1, 2, 1, 1}, []float64{0, 0, 1, 0}
	want := []float64{
		-1.5 * s1 * 1, -0.5 * s1 * 2, 0.5*s1*1 + 1, 1.5 * s1 * 1,
		-s2, -s2 * 2, s2 + 1, s2,
	}
	ctx := context.New()
	ctx.In("ln").VariableWithValue(GainVar, gain)
	ctx.In("ln").VariableWithValue(OffsetVar, offset)
	got := run(t, ctx.Reuse(), func(ctx *context.Context, x *Node) *Node { return LayerNorm(ctx.In("ln"), x, eps) }, x)
	assertClose(t, "y", got, want, 1e-9)
	if math.Abs(s2-0.30151134) > 1e-8 {
		t.Fatalf("hand value drifted: %v", s2)
	}

	// Fresh LayerNorm: γ=1, β=0, so each row comes out standardised.
	got = run(t, context.New(), func(ctx *context.Context, x *Node) *Node { return LayerNorm(ctx, x, eps) }, x)
	assertClose(t, "fresh y", got[:4], []float64{-1.5 * s1, -0.5 * s1, 0.5 * s1, 1.5 * s1}, 1e-9)
}

// conv2DReference is a direct loop over output pixels: stride 1, zero "same" padding.
func conv2DReference(x []float64, b, h, w, c int, kernel []float64, k, out int, bias []float64) []float64 {
	y := make([]float64, b*h*w*out)
	for n := range b {
		for i := range h {
			for j := range w {
				for o := range out {
					sum := bias[o]
					for dy := range k {
						for dx := range k {
							ii, jj := i+dy-k/2, j+dx-k/2
							if ii < 0 || jj < 0 || ii >= h || jj >= w {
								continue
							}
							for ci := range c {
								sum += x[((n*h+ii)*w+jj)*c+ci] * kernel[((dy*k+dx)*c+ci)*out+o]
							}
						}
					}
					y[((n*h+i)*w+j)*out+o] = sum
				}
			}
		}
	}
	return y
}

func TestConv2DForwardMatchesDirectLoop(t *testing.T) {
	const b, h, w, c, k, out = 2, 4, 5, 3, 3, 2
	rng := rand.New(rand.NewPCG(1, 2))
	randn := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		return v
	}
	x, kernel, bias := randn(b*h*w*c), randn(k*k*c*out), randn(out)
	ctx := context.New()
	ctx.In("conv").VariableWithValue(WeightsVar, tensors.FromFlatDataAndDimensions(kernel, k, k, c, out))
	ctx.In("conv").VariableWithValue(BiasesVar, bias)
	got := run(t, ctx.Reuse(), func(ctx *context.Context, x *Node) *Node { return Conv2D(ctx.In("conv"), x, out, k) },
		tensors.FromFlatDataAndDimensions(x, b, h, w, c))
	assertClose(t, "conv", got, conv2DReference(x, b, h, w, c, kernel, k, out, bias), 1e-12)
}

func TestGELUIsExactErf(t *testing.T) {
	xs := []float64{-3, -1, -0.5, 0, 0.5, 1, 3}
	want := make([]float64, len(xs))
	for i, x := range xs {
		want[i] = x * 0.5 * (1 + math.Erf(x/math.Sqrt2))
	}
	got := run(t, context.New(), func(_ *context.Context, x *Node) *Node { return GELU(x) }, tensors.FromValue(xs))
	assertClose(t, "gelu", got, want, 1e-15)
	// The tanh approximation differs by ~1e-4 around |x|=1..3: make sure that is not what runs.
	approx := 0.5 * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(3+0.044715*27)))
	if math.Abs(3*approx-want[6]) < 1e-5 {
		t.Fatal("test cannot tell exact GELU from the tanh approximation")
	}
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	b := testBackend(t)
	ctx := context.New()
	ctx.SetRNGStateFromSeed(3)
	rng := rand.New(rand.NewPCG(3, 4))
	img := make([]float64, 2*4*4*2)
	for i := range img {
		img[i] = rng.NormFloat64()
	}
	// A little network touching every layer: Conv2D → GELU → Linear (rank-4 input, flattened) → LayerNorm → Linear.
	loss := func(ctx *context.Context, g *Graph) *Node {
		x := Const(g, tensors.FromFlatDataAndDimensions(img, 2, 4, 4, 2))
		h := GELU(Conv2D(ctx.In("conv"), x, 3, 3))
		h = Linear(ctx.In("fc1"), h, 5, true)
		h = LayerNorm(ctx.In("ln"), h, 1e-5)
		y := Linear(ctx.In("fc2"), h, 2, false)
		return ReduceAllSum(Square(y))
	}
	// Checked(false): gradcheck builds the loss twice (gradient and loss graphs) on one context.
	n := gradcheck.Variables(t, b, ctx.Checked(false), loss, gradcheck.Options{Tol: 1e-6})
	if n != 7 { // conv weights, biases; fc1 weights, biases; gain, offset; fc2 weights.
		t.Errorf("checked %d variables, want 7", n)
	}
	if f := gradfix.Fallbacks(); f != 0 {
		t.Errorf("gradfix fell back %d times", f)
	}
}

func TestFansFollowTorchInit(t *testing.T) {
	cases := []struct {
		dims        []int
		fanIn, fOut int
	}{
		{[]int{784, 512}, 784, 512},     // Linear(784, 512) stored [in, out]
		{[]int{3, 3, 16, 32}, 144, 288}, // Conv2d(16, 32, 3): fan_in = 16·9, fan_out = 32·9
	}
	for _, c := range cases {
		in, out := Fans(shapes.Make(dtypes.Float32, c.dims...))
		if in != c.fanIn || out != c.fOut {
			t.Errorf("Fans(%v) = %d, %d, want %d, %d", c.dims, in, out, c.fanIn, c.fOut)
		}
	}
}

// initValues creates the variables of build (seeded) and returns them by relative name.
func initValues(t *testing.T, seed int64, build func(ctx *context.Context, x *Node), x *tensors.Tensor) map[string][]float64 {
	t.Helper()
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(seed); err != nil {
		t.Fatal(err)
	}
	context.MustExecOnce(testBackend(t), ctx, func(ctx *context.Context, x *Node) *Node { build(ctx, x); return ReduceAllSum(x) }, x)
	values := map[string][]float64{}
	for v := range Parameters(ctx) {
		values[RelativeName("/", v)] = tensors.MustCopyFlatData[float64](v.MustValue())
	}
	return values
}

func TestInitDistributionsMatchPyTorch(t *testing.T) {
	// Layers big enough that the sample std of the weights is within ~1% of
	// the uniform's bound/√3 (checked for n ≥ 4096 values; bounds for all).
	x := tensors.FromScalarAndDimensions(0.0, 4, 256)
	values := initValues(t, 42, func(ctx *context.Context, x *Node) {
		Linear(ctx.In("linear"), x, 300, true)
		LinearInit(ctx.In("xavier"), x, 100, false, XavierUniform(ctx), nil)
		LinearInit(ctx.In("kaiming0"), x, 64, false, KaimingUniform(ctx, 0), nil)
		Conv2D(ctx.In("conv"), Reshape(x, 4, 8, 8, 4), 256, 3) // fan_in 4·9 = 36
		LayerNorm(ctx.In("ln"), x, 1e-5)
	}, x)
	cases := []struct {
		name  string
		bound float64
	}{
		{"linear/weights", 1 / math.Sqrt(256)},           // kaiming_uniform_(a=√5)
		{"linear/biases", 1 / math.Sqrt(256)},            // nn.Linear bias: U(±1/√fan_in)
		{"xavier/weights", math.Sqrt(6.0 / (256 + 100))}, // xavier_uniform_
		{"kaiming0/weights", math.Sqrt(6.0 / 256)},       // kaiming_uniform_(a=0) = √2·√(3/fan_in)
		{"conv/weights", 1 / math.Sqrt(36)},              // Conv2d default, fan_in = in·k·k
		{"conv/biases", 1 / math.Sqrt(36)},               // Conv2d bias
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, ok := values[c.name]
			if !ok {
				t.Fatalf("no variable %q among %d", c.name, len(values))
			}
			var sum, sumSq, maxAbs float64
			for _, x := range v {
				sum += x
				sumSq += x * x
				maxAbs = math.Max(maxAbs, math.Abs(x))
			}
			n := float64(len(v))
			mean := sum / n
			std := math.Sqrt(sumSq/n - mean*mean)
			wantStd := c.bound / math.Sqrt(3)
			if maxAbs > c.bound {
				t.Errorf("max |w| = %g exceeds the bound %g", maxAbs, c.bound)
			}
			if maxAbs < c.bound*(1-10/n) && len(v) > 200 { // the max of n uniforms is within ~bound/n of the bound
				t.Errorf("max |w| = %g, far below the bound %g: wrong bound?", maxAbs, c.bound)
			}
			if len(v) >= 4096 {
				if math.Abs(std/wantStd-1) > 0.03 {
					t.Errorf("std %g, want %g (bound/√3)", std, wantStd)
				}
				if math.Abs(mean) > 4*wantStd/math.Sqrt(n) {
					t.Errorf("mean %g is not ≈ 0 (std of the mean %g)", mean, wantStd/math.Sqrt(n))
				}
			}
		})
	}
	for i, g := range values["ln/gain"] {
		if g != 1 || values["ln/offset"][i] != 0 {
			t.Fatalf("LayerNorm init: gain[%d]=%g offset[%d]=%g, want 1 and 0", i, g, i, values["ln/offset"][i])
		}
	}
}

func TestSameSeedSameInit(t *testing.T) {
	build := func(ctx *context.Context, x *Node) { Linear(ctx.In("fc"), x, 8, true) }
	x := tensors.FromScalarAndDimensions(0.0, 1, 16)
	a, b, c := initValues(t, 5, build, x), initValues(t, 5, build, x), initValues(t, 6, build, x)
	for name, va := range a {
		if !equalFloats(va, b[name]) {
			t.Errorf("%s: same seed gave different values", name)
		}
		if equalFloats(va, c[name]) {
			t.Errorf("%s: different seeds gave the same values", name)
		}
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
