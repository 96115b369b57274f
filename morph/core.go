// Package morph is MorphReuse in GoMLX: one shared trainable core reused by
// every adapted layer of a model (Core, Adapter), and the text models' shaped
// weight sharing with per-layer scales (SharedWeights, LinearWrapperShared).
// It also holds the project's one parameter counter (CountParameters).
//
// Everything shared lives in the model's own context: a Core or a
// SharedWeights is a handle on a scope of that context, so two models (two
// contexts) share nothing, and a shared variable exists, trains and is
// counted once.
//
//	func model(ctx *context.Context, x *Node) *Node {
//		core := morph.NewCore(ctx.In("core"), morph.DefaultCoreConfig())
//		h := activations.Relu(morph.Adapter(ctx.In("adapter1"), x, 512, core, false))
//		return morph.Adapter(ctx.In("adapter2"), h, 10, core, false)
//	}
//
// After training, Alphas and Scales read the applied residual scales α and the
// wrappers' scales back from the context.
package morph

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's own idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/nn"
)

// Names and constants of the core (SPEC §1).
const (
	// CoreScaleVar is the core's scalar s; the residual scale applied is α = 2·sigmoid(s) ∈ (0, 2).
	CoreScaleVar = "scale_param"
	// CoreScaleInit is s's initial value: α starts at 2·sigmoid(−3) ≈ 0.095, near the identity.
	CoreScaleInit = -3.0
	// CoreLayerNormEps is the eps of the core's LayerNorm (PyTorch's default).
	CoreLayerNormEps = 1e-5
)

// CoreConfig sizes a Core.
type CoreConfig struct {
	Dim    int     // d, the width adapters project to; default 128
	Expand float64 // hidden width = int(Dim·Expand) (truncated, as Python's int()); default 2.5
}

// DefaultCoreConfig is SPEC §1's core: d = 128, hidden = int(128·2.5) = 320.
func DefaultCoreConfig() CoreConfig { return CoreConfig{Dim: 128, Expand: 2.5} }

// Hidden is the width of the core's hidden layer.
func (c CoreConfig) Hidden() int { return int(float64(c.Dim) * c.Expand) }

// Validate reports a configuration that cannot build a core.
func (c CoreConfig) Validate() error {
	if c.Dim <= 0 || c.Hidden() <= 0 {
		return fmt.Errorf("morph: core dim %d and expand %g give hidden width %d: both must be positive", c.Dim, c.Expand, c.Hidden())
	}
	return nil
}

// Core is the shared MorphReuse core, a handle on one scope of a model's context:
//
//	Core(x) = x + α·(W2·GELU(LN(W1·x + b1)) + b2),  α = 2·sigmoid(s)
//
// (the seed's `x + scale * net(x)`: b2 is inside the scaled term). W1, W2 have
// nn.Linear's default init, LN is affine with eps 1e-5, GELU is exact, s
// starts at −3. Every Apply uses the same variables, created by the first one
// in x's dtype.
type Core struct {
	ctx *context.Context
	cfg CoreConfig
}

// NewCore returns the core stored in ctx's scope (e.g. ctx.In("core")). It panics on an invalid config.
func NewCore(ctx *context.Context, cfg CoreConfig) *Core {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &Core{ctx: ctx, cfg: cfg}
}

// Config is the core's size.
func (c *Core) Config() CoreConfig { return c.cfg }

// Scope is the context scope holding the core's variables.
func (c *Core) Scope() string { return c.ctx.Scope() }

// Apply runs the core on x [..., Dim].
func (c *Core) Apply(x *Node) *Node {
	if x.Shape().Dim(-1) != c.cfg.Dim {
		panic(fmt.Sprintf("morph: core at %q has dim %d, input is %s", c.ctx.Scope(), c.cfg.Dim, x.Shape()))
	}
	// Checked(false): the first Apply creates the variables, every later one reuses them.
	ctx := c.ctx.Checked(false)
	h := nn.Linear(ctx.In("fc1"), x, c.cfg.Hidden(), true)
	h = nn.GELU(nn.LayerNorm(ctx.In("norm"), h, CoreLayerNormEps))
	h = nn.Linear(ctx.In("fc2"), h, c.cfg.Dim, true)
	s := ctx.WithInitializer(nn.Constant(CoreScaleInit)).VariableWithShape(CoreScaleVar, shapes.Make(x.DType()))
	alpha := MulScalar(Sigmoid(s.ValueGraph(x.Graph())), 2)
	return Add(x, Mul(alpha, h))
}

// Adapter is MorphReuseAdapter: out_proj(core(in_proj(x))), with in_proj
// [in, d] and out_proj [d, out] bias-free and Xavier-uniform, in ctx's scopes
// "in_proj" and "out_proj". frozenProjections freezes both projections at
// their initial values (SPEC's morph-frozen); otherwise they train with the
// core (morph-trained). The core is shared: pass the same *Core to every adapter.
func Adapter(ctx *context.Context, x *Node, out int, core *Core, frozenProjections bool) *Node {
	d := core.cfg.Dim
	h := nn.LinearInit(ctx.In("in_proj"), x, d, false, nn.XavierUniform(ctx), nil)
	h = core.Apply(h)
	y := nn.LinearInit(ctx.In("out_proj"), h, out, false, nn.XavierUniform(ctx), nil)
	for _, proj := range []string{"in_proj", "out_proj"} {
		ctx.In(proj).GetVariable(nn.WeightsVar).SetTrainable(!frozenProjections)
	}
	return y
}
