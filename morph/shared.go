package morph

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's own idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/nn"
)

// WrapperScaleVar is the per-wrapper scalar scale of LinearWrapperShared (initialised to 1).
const WrapperScaleVar = "scale"

// SharedWeights is the seed's SharedWeight registry: one (W, b) per distinct
// (in, out) shape, W [in, out] Xavier-uniform and b zeros, shared by every
// user of that shape. It is a handle on a scope of one model's context (e.g.
// ctx.In("shared")): the pair for shape (in, out) lives in its sub-scope
// ShapeScope(in, out). The seed keeps this cache in a class attribute, so all
// models of a process share it; here a second model has its own context and
// shares nothing with the first.
type SharedWeights struct {
	ctx *context.Context
}

// NewSharedWeights returns the registry stored in ctx's scope.
func NewSharedWeights(ctx *context.Context) *SharedWeights { return &SharedWeights{ctx: ctx} }

// Scope is the context scope holding the shared pairs.
func (s *SharedWeights) Scope() string { return s.ctx.Scope() }

// ShapeScope names the sub-scope of the pair for shape (in, out), e.g. "312x1200".
func ShapeScope(in, out int) string { return fmt.Sprintf("%dx%d", in, out) }

// Apply is x·W + b over the last axis with the pair of shape (x's last axis, out),
// created by the first use of that shape and reused by every later one.
func (s *SharedWeights) Apply(x *Node, out int) *Node {
	in := x.Shape().Dim(-1)
	ctx := s.ctx.Checked(false).In(ShapeScope(in, out))
	return nn.LinearInit(ctx, x, out, true, nn.XavierUniform(ctx), nn.Constant(0))
}

// LinearWrapperShared is MorphReuseLinearWrapperShared: GELU(scale·(x·W + b))
// with (W, b) the pair of shape (in, out) from shared and scale a scalar of
// this wrapper (ctx's scope, variable WrapperScaleVar, init 1).
func LinearWrapperShared(ctx *context.Context, x *Node, out int, shared *SharedWeights) *Node {
	scale := ctx.WithInitializer(nn.Constant(1)).VariableWithShape(WrapperScaleVar, shapes.Make(x.DType()))
	return nn.GELU(Mul(scale.ValueGraph(x.Graph()), shared.Apply(x, out)))
}
