// Package nn holds the PyTorch-compatible building blocks every model of the
// project uses (the experiments' MLP and CNN, morph, lora, the BERT encoder),
// as small functions over GoMLX context scopes in the style of pkg/ml/layers.
//
// Conventions:
//   - Variables take the dtype of the input x: float64 inputs build a float64
//     layer (for gradient checks), float32 inputs a float32 one.
//   - A linear layer stores W as [in, out] and computes x·W + b (PyTorch stores
//     [out, in] and computes x·Wᵀ + b); fan_in and fan_out follow torch.nn.init
//     for that layout (fan_in = in). Conv kernels are [kh, kw, in, out].
//   - Initial values come from the context's RNG (ctx.SetRNGStateFromSeed), so
//     the same seed and the same model give the same initial values.
//   - Variable names follow GoMLX's layers: "weights", "biases" (Linear,
//     Conv2D), "gain", "offset" (LayerNorm).
package nn

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's own idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/morphreuse/morphreuse-go/internal/gradfix"
)

// Variable names used by the layers of this package.
const (
	WeightsVar = "weights"
	BiasesVar  = "biases"
	GainVar    = "gain"
	OffsetVar  = "offset"
)

// Linear is PyTorch's nn.Linear over the last axis of x: x·W (+ b), W [in, out],
// with nn.Linear's default init: W kaiming-uniform(a=√5), i.e. U(±1/√in), and
// b U(±1/√in).
func Linear(ctx *context.Context, x *Node, out int, bias bool) *Node {
	in := x.Shape().Dim(-1)
	return LinearInit(ctx, x, out, bias, KaimingUniform(ctx, math.Sqrt(5)), Uniform(ctx, 1/math.Sqrt(float64(in))))
}

// LinearInit is Linear with the given initializers (biasInit is unused when bias is false).
func LinearInit(ctx *context.Context, x *Node, out int, bias bool, weightInit, biasInit context.VariableInitializer) *Node {
	in := x.Shape().Dim(-1)
	w := ctx.WithInitializer(weightInit).VariableWithShape(WeightsVar, shapes.Make(x.DType(), in, out))
	var b *Node
	if bias {
		b = ctx.WithInitializer(biasInit).VariableWithShape(BiasesVar, shapes.Make(x.DType(), out)).ValueGraph(x.Graph())
	}
	return Affine(x, w.ValueGraph(x.Graph()), b)
}

// Affine is x·w (+ b) over the last axis of x, for w [in, out] and b [out] or nil.
// Inputs of rank > 2 are flattened to rank 2 around a single graph.Dot (the
// product whose gradient internal/gradfix makes fast) and reshaped back.
func Affine(x, w, b *Node) *Node {
	if w.Rank() != 2 || x.Shape().Dim(-1) != w.Shape().Dimensions[0] {
		panic(fmt.Sprintf("nn.Affine: x %s and w %s: want w [in, out] with in = x's last axis", x.Shape(), w.Shape()))
	}
	dims := x.Shape().Dimensions
	in, out := w.Shape().Dimensions[0], w.Shape().Dimensions[1]
	x2 := x
	if x.Rank() != 2 {
		x2 = Reshape(x, -1, in)
	}
	y := Dot(x2, w)
	if b != nil {
		y = Add(y, Reshape(b, 1, out))
	}
	if x.Rank() != 2 {
		outDims := append(append([]int(nil), dims[:len(dims)-1]...), out)
		y = Reshape(y, outDims...)
	}
	return y
}

// LayerNorm is PyTorch's nn.LayerNorm over the last axis (elementwise affine):
// (x−μ)/√(σ²+eps)·γ + β with the biased variance σ², γ initialised to 1 and β
// to 0. eps is explicit because the defaults differ (PyTorch 1e-5, BERT 1e-12,
// GoMLX's own layer 1e-3).
func LayerNorm(ctx *context.Context, x *Node, eps float64) *Node {
	g := x.Graph()
	normShape := shapes.Make(x.DType(), x.Shape().Dim(-1))
	gain := ctx.WithInitializer(Constant(1)).VariableWithShape(GainVar, normShape).ValueGraph(g)
	offset := ctx.WithInitializer(Constant(0)).VariableWithShape(OffsetVar, normShape).ValueGraph(g)
	centred := Sub(x, ReduceAndKeep(x, ReduceMean, -1))
	variance := ReduceAndKeep(Square(centred), ReduceMean, -1)
	// 1/Sqrt rather than Rsqrt: Rsqrt has no gradient in GoMLX v0.26.0.
	normalized := Div(centred, Sqrt(AddScalar(variance, eps)))
	return Add(Mul(normalized, ExpandLeftToRank(gain, x.Rank())), ExpandLeftToRank(offset, x.Rank()))
}

// Conv2D is PyTorch's nn.Conv2d(in, out, k, padding=k/2) on NHWC input x
// [B, H, W, in]: stride 1, "same" padding, kernel [k, k, in, out] and bias
// [out], both with Conv2d's default init U(±1/√(in·k·k)). It runs on
// gradfix.Conv2D (fast, and differentiable on simplego).
func Conv2D(ctx *context.Context, x *Node, out, k int) *Node {
	if x.Rank() != 4 {
		panic(fmt.Sprintf("nn.Conv2D: want x [B, H, W, C], got %s", x.Shape()))
	}
	in := x.Shape().Dim(-1)
	bound := 1 / math.Sqrt(float64(in*k*k))
	kernel := ctx.WithInitializer(KaimingUniform(ctx, math.Sqrt(5))).
		VariableWithShape(WeightsVar, shapes.Make(x.DType(), k, k, in, out)).ValueGraph(x.Graph())
	bias := ctx.WithInitializer(Uniform(ctx, bound)).
		VariableWithShape(BiasesVar, shapes.Make(x.DType(), out)).ValueGraph(x.Graph())
	return Add(gradfix.Conv2D(x, kernel), Reshape(bias, 1, 1, 1, out))
}

// GELU is the exact (erf) GELU, PyTorch's nn.GELU() default: x·Φ(x).
func GELU(x *Node) *Node { return activations.Gelu(x) }
