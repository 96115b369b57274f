package gradfix

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/morphreuse/morphreuse-go/internal/gradcheck"
)

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	if err := Install(); err != nil {
		t.Fatal(err)
	}
	b, err := simplego.New("ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b
}

func randTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float64, n)
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// dotCases cover the axis layouts models produce: plain and transposed
// matmul, batched matmul, attention-style batch axes not first, several
// contracting axes out of order, rank-2 × rank-1, and odd sizes.
var dotCases = []struct {
	name             string
	lhsDims, rhsDims []int
	lc, lb, rc, rb   []int
}{
	{"matmul", []int{5, 7}, []int{7, 3}, []int{1}, nil, []int{0}, nil},
	{"matmul_lhs_transposed", []int{7, 5}, []int{7, 3}, []int{0}, nil, []int{0}, nil},
	{"matmul_rhs_transposed", []int{5, 7}, []int{3, 7}, []int{1}, nil, []int{1}, nil},
	{"dense_rank3", []int{2, 5, 7}, []int{7, 3}, []int{2}, nil, []int{0}, nil},
	{"batched", []int{4, 5, 7}, []int{4, 7, 3}, []int{2}, []int{0}, []int{1}, []int{0}},
	{"attention_scores", []int{2, 6, 3, 4}, []int{2, 5, 3, 4}, []int{3}, []int{0, 2}, []int{3}, []int{0, 2}},
	{"attention_values", []int{2, 3, 6, 5}, []int{2, 5, 3, 4}, []int{3}, []int{0, 1}, []int{1}, []int{0, 2}},
	{"two_contracting_out_of_order", []int{3, 4, 5}, []int{5, 2, 4}, []int{1, 2}, nil, []int{2, 0}, nil},
	{"batch_not_first", []int{5, 3, 7}, []int{7, 3, 2}, []int{2}, []int{1}, []int{0}, []int{1}},
	{"matrix_vector", []int{5, 7}, []int{7}, []int{1}, nil, []int{0}, nil},
	{"outer_product", []int{5}, []int{3}, nil, nil, nil, nil},
}

func TestDotGeneralGradientMatchesStockAndFiniteDifferences(t *testing.T) {
	b := testBackend(t)
	for i, c := range dotCases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			lhs, rhs := randTensor(rng, c.lhsDims...), randTensor(rng, c.rhsDims...)
			var weights *tensors.Tensor
			loss := func(in []*Node) *Node {
				out := DotGeneral(in[0], c.lc, c.lb, in[1], c.rc, c.rb)
				if weights == nil {
					weights = randTensor(rng, out.Shape().Dimensions...)
				}
				return ReduceAllSum(Mul(out, Const(out.Graph(), weights)))
			}
			gradcheck.Inputs(t, b, loss, []*tensors.Tensor{lhs, rhs}, gradcheck.Options{Seed: uint64(i)})
			fixed := gradients(t, b, loss, lhs, rhs)
			restore := UseStock()
			want := gradients(t, b, loss, lhs, rhs)
			restore()
			for k := range fixed {
				if d := maxAbsDiff(fixed[k], want[k]); d > 1e-10 {
					t.Errorf("gradient of input %d differs from GoMLX's stock gradient by %g", k, d)
				}
			}
		})
	}
	if n := Fallbacks(); n != 0 {
		t.Fatalf("%d gradients fell back to the stock definition", n)
	}
}

func TestDotGradientMatchesStock(t *testing.T) {
	b := testBackend(t)
	rng := rand.New(rand.NewPCG(7, 7))
	lhs, rhs, w := randTensor(rng, 9, 4), randTensor(rng, 4, 6), randTensor(rng, 9, 6)
	loss := func(in []*Node) *Node { return ReduceAllSum(Mul(Dot(in[0], in[1]), Const(in[0].Graph(), w))) }
	gradcheck.Inputs(t, b, loss, []*tensors.Tensor{lhs, rhs}, gradcheck.Options{})
	fixed := gradients(t, b, loss, lhs, rhs)
	restore := UseStock()
	want := gradients(t, b, loss, lhs, rhs)
	restore()
	for k := range fixed {
		if d := maxAbsDiff(fixed[k], want[k]); d > 1e-10 {
			t.Errorf("Dot gradient of input %d differs from stock by %g", k, d)
		}
	}
}

// TestOverridesEngaged proves the installed gradient is the fast one: the
// stock Dot gradient of [i,j]x[j,k] contains an [i,j,k] intermediate.
func TestOverridesEngaged(t *testing.T) {
	b := testBackend(t)
	g := NewGraph(b, "engaged")
	defer g.Finalize()
	x := Parameter(g, "x", tensors.FromValue([][]float32{{1, 2}}).Shape())
	w := Parameter(g, "w", tensors.FromValue([][]float32{{1, 2, 3}, {4, 5, 6}}).Shape())
	grads := Gradient(ReduceAllSum(Dot(x, w)), x, w)
	for _, n := range g.Nodes() {
		if n.Rank() == 3 {
			t.Fatalf("gradient graph has a rank-3 node %s: the Dot override is not engaged", n)
		}
	}
	_ = grads
}

func gradients(t *testing.T, b backends.Backend, loss func([]*Node) *Node, inputs ...*tensors.Tensor) [][]float64 {
	t.Helper()
	e := MustNewExec(b, func(in []*Node) []*Node { return Gradient(loss(in), in...) })
	defer e.Finalize()
	args := make([]any, len(inputs))
	for i, x := range inputs {
		args[i] = x
	}
	var out [][]float64
	for _, g := range e.MustExec(args...) {
		out = append(out, tensors.MustCopyFlatData[float64](g))
	}
	return out
}

func TestSliceGradientWithoutPad(t *testing.T) {
	b := testBackend(t)
	cases := []struct {
		dims  []int
		specs []SliceAxisSpec
	}{
		{[]int{6}, []SliceAxisSpec{AxisRange(1, 4)}},
		{[]int{7}, []SliceAxisSpec{AxisRange(1, 7).Stride(3)}},
		{[]int{3, 8}, []SliceAxisSpec{AxisRange(), AxisRange(2, 7).Stride(2)}},
		{[]int{4, 5, 3}, []SliceAxisSpec{AxisRange(1, 3), AxisRange(0, 5).Stride(4), AxisRange(2, 3)}},
		{[]int{2, 9}, []SliceAxisSpec{AxisRange(0, 1), AxisRange(0, 1)}}, // CLS-token style
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(c.dims), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			x := randTensor(rng, c.dims...)
			var weights *tensors.Tensor
			loss := func(in []*Node) *Node {
				out := Slice(in[0], c.specs...)
				if weights == nil {
					weights = randTensor(rng, out.Shape().Dimensions...)
				}
				return ReduceAllSum(Mul(out, Const(out.Graph(), weights)))
			}
			// The loss is linear in x: the exact gradient is the weights scattered back,
			// which element-wise finite differences recover exactly.
			gradcheck.Inputs(t, b, loss, []*tensors.Tensor{x}, gradcheck.Options{Elementwise: 1000})
		})
	}
}

func TestConv2DIm2colMatchesNative(t *testing.T) {
	b := testBackend(t)
	rng := rand.New(rand.NewPCG(11, 0))
	for _, c := range []struct{ batch, h, w, cin, cout, k int }{
		{2, 6, 5, 3, 4, 3}, {1, 4, 4, 1, 2, 1}, {3, 5, 7, 2, 3, 5},
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			x, k := randTensor(rng, c.batch, c.h, c.w, c.cin), randTensor(rng, c.k, c.k, c.cin, c.cout)
			got := tensors.MustCopyFlatData[float64](MustExecOnce(b, im2colConv2D, x, k))
			want := tensors.MustCopyFlatData[float64](MustExecOnce(b, func(x, k *Node) *Node {
				return Convolve(x, k).Strides(1).PadSame().Done()
			}, x, k))
			if d := maxAbsDiff(got, want); d > 1e-12 {
				t.Fatalf("im2col differs from native convolution by %g", d)
			}
			w := randTensor(rng, c.batch, c.h, c.w, c.cout)
			gradcheck.Inputs(t, b, func(in []*Node) *Node {
				return ReduceAllSum(Mul(Conv2D(in[0], in[1]), Const(in[0].Graph(), w)))
			}, []*tensors.Tensor{x, k}, gradcheck.Options{})
		})
	}
}

func TestMaxPool2x2MatchesNative(t *testing.T) {
	b := testBackend(t)
	rng := rand.New(rand.NewPCG(5, 5))
	x := randTensor(rng, 2, 4, 6, 3)
	got := tensors.MustCopyFlatData[float64](MustExecOnce(b, MaxPool2x2, x))
	want := tensors.MustCopyFlatData[float64](MustExecOnce(b, func(x *Node) *Node {
		return MaxPool(x).Window(2).Strides(2).Done()
	}, x))
	if d := maxAbsDiff(got, want); d != 0 {
		t.Fatalf("reshape max-pool differs from native by %g", d)
	}
	w := randTensor(rng, 2, 2, 3, 3)
	gradcheck.Inputs(t, b, func(in []*Node) *Node {
		return ReduceAllSum(Mul(MaxPool2x2(in[0]), Const(in[0].Graph(), w)))
	}, []*tensors.Tensor{x}, gradcheck.Options{})
}

// TestMatmulOpsCountsOnlyWhatIsComputed: the loss and the gradient of x·w·v
// with respect to w need the two forward products and two backward ones —
// not the product that would give x's gradient, although it is in the graph.
func TestMatmulOpsCountsOnlyWhatIsComputed(t *testing.T) {
	b := testBackend(t)
	g := NewGraph(b, "flops")
	defer g.Finalize()
	x := Parameter(g, "x", shapes.Make(dtypes.Float32, 4, 3))
	w := Parameter(g, "w", shapes.Make(dtypes.Float32, 3, 5))
	v := Parameter(g, "v", shapes.Make(dtypes.Float32, 5, 2))
	loss := ReduceAllSum(Dot(Dot(x, w), v))
	grads := Gradient(loss, x, w) // x's gradient is built but not asked for below
	ops, err := MatmulOps(loss, grads[1])
	if err != nil {
		t.Fatal(err)
	}
	// Forward: x·w (2·4·5·3) and (xw)·v (2·4·2·5); backward to w: through v (2·4·5·2), then xᵀ·g (2·3·5·4).
	want := int64(120 + 80 + 80 + 120)
	if len(ops) != 4 || TotalFLOPs(ops) != want {
		t.Fatalf("%d products, %d FLOPs; want 4 products, %d FLOPs: %+v", len(ops), TotalFLOPs(ops), want, ops)
	}
}
