package nn

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's own idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// Fans returns fan_in and fan_out of a weight as torch.nn.init computes them,
// for this project's layouts: [in, out] for a matrix (fan_in = in, fan_out = out)
// and [kh, kw, ..., in, out] for a convolution kernel (both multiplied by the
// receptive field kh·kw·...). It panics for rank < 2, where torch.nn.init
// raises too.
func Fans(shape shapes.Shape) (fanIn, fanOut int) {
	if shape.Rank() < 2 {
		panic(fmt.Sprintf("nn.Fans: fan_in/fan_out need a weight of rank >= 2, got %s", shape))
	}
	receptive := 1
	for _, d := range shape.Dimensions[:shape.Rank()-2] {
		receptive *= d
	}
	return shape.Dim(-2) * receptive, shape.Dim(-1) * receptive
}

// Uniform initialises with U(−bound, bound), drawn from the context's RNG.
func Uniform(ctx *context.Context, bound float64) context.VariableInitializer {
	return func(g *Graph, shape shapes.Shape) *Node {
		u := ctx.RandomUniform(g, shape) // [0, 1)
		return AddScalar(MulScalar(u, 2*bound), -bound)
	}
}

// KaimingUniform is torch.nn.init.kaiming_uniform_(w, a) with its defaults
// (mode fan_in, leaky_relu): U(±√(6 / ((1+a²)·fan_in))). With a = √5, PyTorch's
// default for nn.Linear and nn.Conv2d weights, the bound is 1/√fan_in.
func KaimingUniform(ctx *context.Context, a float64) context.VariableInitializer {
	return func(g *Graph, shape shapes.Shape) *Node {
		fanIn, _ := Fans(shape)
		return Uniform(ctx, math.Sqrt(6/((1+a*a)*float64(fanIn))))(g, shape)
	}
}

// XavierUniform is torch.nn.init.xavier_uniform_ (gain 1): U(±√(6/(fan_in+fan_out))).
// It is GoMLX's initializers.XavierUniformFn, whose fan computation is the
// same as Fans for rank >= 2 (for rank < 2 GoMLX returns zeros where torch raises).
func XavierUniform(ctx *context.Context) context.VariableInitializer {
	return initializers.XavierUniformFn(ctx)
}

// Constant initialises every element with value.
func Constant(value float64) context.VariableInitializer {
	return func(g *Graph, shape shapes.Shape) *Node {
		return Add(Zeros(g, shape), Scalar(g, shape.DType, value))
	}
}
