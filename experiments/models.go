package experiments

// The image models of SPEC §2, for every method, on one screen (nanoGPT's
// model.py in spirit): a ModelConfig says what to build, Build builds it,
// Setup creates its variables and applies the method's freezing.
//
// Layouts are NHWC. PyTorch flattens a conv feature map as (C, H, W), this
// model as (H, W, C): the classifier sees the same 2048 features in another
// fixed order. With i.i.d. initial weights that permutation changes neither the
// initial distribution nor what the model can learn. (For MNIST's 1-channel
// images the two orders coincide.)

import (
	"errors"
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's own idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/morphreuse/morphreuse-go/internal/gradfix"
	"github.com/morphreuse/morphreuse-go/internal/nn"
	"github.com/morphreuse/morphreuse-go/lora"
	"github.com/morphreuse/morphreuse-go/morph"
)

// Arch is a model family of SPEC §2.
type Arch string

const (
	MLP Arch = "mlp" // MNIST, FashionMNIST: flatten → Linear(784,512) → ReLU → Linear(512,10)
	CNN Arch = "cnn" // CIFAR-10: 3 × [Conv 3×3, ReLU, MaxPool 2] → flatten 2048 → Linear(2048,256) → ReLU → Linear(256,10)
)

// Method is how a model is adapted and trained (SPEC §1).
type Method string

const (
	Baseline     Method = "baseline"      // every layer trained
	MorphFrozen  Method = "morph-frozen"  // classifier = adapters on one shared core; projections frozen at init
	MorphTrained Method = "morph-trained" // the same, projections trained too
	LoRA         Method = "lora"          // classifier linears frozen at init + LoRA on them
)

// Methods lists every method, in the order reports use.
var Methods = []Method{Baseline, MorphFrozen, MorphTrained, LoRA}

// ModelScope is the context scope holding a model's variables: count its
// parameters with morph.CountParameters(ctx.In(ModelScope)).
const ModelScope = "model"

// ModelConfig is the whole definition of an image model.
type ModelConfig struct {
	Arch     Arch
	Method   Method
	Input    []int            // one example's dimensions: MLP [28 28 1] (any shape; flattened), CNN [32 32 3] (NHWC)
	Channels []int            // CNN backbone: output channels of each conv block
	Hidden   int              // classifier hidden width: MLP 512, CNN 256
	Classes  int              // 10
	Core     morph.CoreConfig // morph-*: the shared core (d 128, expand 2.5)
	LoRA     lora.Config      // lora: r 4, α 8, on the classifier's "fc1" and "fc2"
}

// NewModelConfig is SPEC §2's model for arch and method.
func NewModelConfig(arch Arch, method Method) ModelConfig {
	c := ModelConfig{
		Arch: arch, Method: method, Input: []int{28, 28, 1}, Hidden: 512, Classes: 10,
		Core: morph.DefaultCoreConfig(),
		LoRA: lora.Config{Rank: 4, Alpha: 8, Targets: []string{"fc1", "fc2"}},
	}
	if arch == CNN {
		c.Input, c.Channels, c.Hidden = []int{32, 32, 3}, []int{32, 64, 128}, 256
	}
	return c
}

// Validate reports a configuration that cannot be built.
func (c ModelConfig) Validate() error {
	var errs []error
	if c.Arch != MLP && c.Arch != CNN {
		errs = append(errs, fmt.Errorf("unknown arch %q (want %q or %q)", c.Arch, MLP, CNN))
	}
	if !slices.Contains(Methods, c.Method) {
		errs = append(errs, fmt.Errorf("unknown method %q (want one of %v)", c.Method, Methods))
	}
	if c.Hidden <= 0 || c.Classes <= 0 || len(c.Input) == 0 || slices.ContainsFunc(c.Input, func(d int) bool { return d <= 0 }) {
		errs = append(errs, fmt.Errorf("hidden %d, classes %d and input %v must be positive", c.Hidden, c.Classes, c.Input))
	}
	if c.Arch == CNN {
		if k := 1 << len(c.Channels); len(c.Input) != 3 || len(c.Channels) == 0 || c.Input[0]%k != 0 || c.Input[1]%k != 0 {
			errs = append(errs, fmt.Errorf("cnn: input %v must be [H W C] with H and W divisible by 2^%d (one 2×2 pool per block of %v)", c.Input, len(c.Channels), c.Channels))
		}
	}
	if c.Method == MorphFrozen || c.Method == MorphTrained {
		errs = append(errs, c.Core.Validate())
	}
	if c.Method == LoRA {
		errs = append(errs, c.LoRA.Validate())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("experiments: model %s/%s: %w", c.Arch, c.Method, err)
	}
	return nil
}

// Build returns the logits [batch, Classes] for images x [batch, Input...],
// with the variables under ctx.In(ModelScope).
func (c ModelConfig) Build(ctx *context.Context, x *Node) *Node {
	ctx = ctx.In(ModelScope)
	if c.Arch == CNN {
		for i, ch := range c.Channels {
			x = nn.Conv2D(ctx.Inf("conv%d", i+1), x, ch, 3)
			x = gradfix.MaxPool2x2(activations.Relu(x))
		}
	}
	x = Reshape(x, x.Shape().Dim(0), -1) // (H, W, C) order: see the file comment.
	switch c.Method {
	case MorphFrozen, MorphTrained:
		core := morph.NewCore(ctx.In("core"), c.Core) // one core, shared by both adapters
		frozen := c.Method == MorphFrozen
		h := activations.Relu(morph.Adapter(ctx.In("adapter1"), x, c.Hidden, core, frozen))
		return morph.Adapter(ctx.In("adapter2"), h, c.Classes, core, frozen)
	default: // Baseline; LoRA wraps these two layers in Setup.
		h := activations.Relu(lora.Dense(ctx.In("fc1"), x, c.Hidden, true))
		return lora.Dense(ctx.In("fc2"), h, c.Classes, true)
	}
}

// Logits is Build on inputs[0], the signature of the training loop's models.
func (c ModelConfig) Logits(ctx *context.Context, inputs []*Node) *Node {
	return c.Build(ctx, inputs[0])
}

// Setup makes ctx ready to train: it creates the model's float32 variables
// with their initial values (drawn from ctx's RNG: seed it first with
// ctx.SetRNGStateFromSeed) by running the model once on a zero image, and for
// LoRA applies the adapter — freezing the classifier's linears at their
// initial values, which for a given seed are the baseline's — and initialises
// it. It returns ctx set to Reuse, as executors built from now on need.
func (c ModelConfig) Setup(backend backends.Backend, ctx *context.Context) (ready *context.Context, err error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			ready, err = nil, fmt.Errorf("experiments: setting up %s/%s: %v", c.Arch, c.Method, r)
		}
	}()
	zeros := tensors.FromShape(shapes.Make(dtypes.Float32, append([]int{1}, c.Input...)...))
	if _, err := context.ExecOnce(backend, ctx, func(ctx *context.Context, x *Node) *Node { return c.Build(ctx, x) }, zeros); err != nil {
		return nil, fmt.Errorf("experiments: setting up %s/%s: %w", c.Arch, c.Method, err)
	}
	if c.Method == LoRA {
		if _, err := lora.Apply(ctx.In(ModelScope), c.LoRA); err != nil {
			return nil, err
		}
		if err := ctx.InitializeVariables(backend, nil); err != nil {
			return nil, err
		}
	}
	return ctx.Reuse(), nil
}
