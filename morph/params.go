package morph

import (
	"fmt"
	"math"
	"strconv"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/nn"
)

// Params is a parameter count: trainable parameters and all parameters.
type Params struct {
	Trainable, Total int64
}

// CountParameters is the project's one parameter counter. It counts the
// elements of the model parameters under ctx's scope (call it with the
// model's scope, e.g. ctx.In("model")):
//   - a variable counts once, however many layers use it (a shared core or a
//     shared weight is one variable of the context);
//   - Trainable counts the variables with Trainable set (what optimizers update);
//   - GoMLX's bookkeeping is not a parameter: names starting with "#" (RNG
//     state, LoRA's enable gates), "global_step", and the "optimizers",
//     "AdamOptimizer" and "metrics" scopes (learning rate, Adam moments,
//     metric averages). See nn.Parameters for the exact rule.
//
// Variables are counted by shape, so it works before they are initialised.
func CountParameters(ctx *context.Context) Params {
	var p Params
	for v := range nn.Parameters(ctx) {
		n := int64(v.Shape().Size())
		p.Total += n
		if v.Trainable {
			p.Trainable += n
		}
	}
	return p
}

// Percent is 100·Trainable/Total (0 for an empty model).
func (p Params) Percent() float64 {
	if p.Total == 0 {
		return 0
	}
	return 100 * float64(p.Trainable) / float64(p.Total)
}

// String is PEFT's print_trainable_parameters line, e.g.
// "trainable params: 83,009 || all params: 315,713 || trainable%: 26.2924".
func (p Params) String() string {
	return fmt.Sprintf("trainable params: %s || all params: %s || trainable%%: %.4f",
		thousands(p.Trainable), thousands(p.Total), p.Percent())
}

// thousands formats n with comma separators, as Python's f"{n:,d}".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return sign + string(out)
}

// Named is a value read back from a model, named by its scope relative to the
// scope it was read from (e.g. "core", "encoder/layer_3/attention/query").
type Named struct {
	Name  string
	Value float64
}

// Alphas reads, for every core under ctx's scope, the residual scale it
// applies: α = 2·sigmoid(s) (not the raw s).
func Alphas(ctx *context.Context) ([]Named, error) {
	return readScalars(ctx, CoreScaleVar, func(s float64) float64 { return 2 * sigmoid(s) })
}

// Scales reads the scale of every LinearWrapperShared under ctx's scope, in creation order.
func Scales(ctx *context.Context) ([]Named, error) {
	return readScalars(ctx, WrapperScaleVar, func(s float64) float64 { return s })
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// readScalars reads the scalar variables called name under ctx's scope.
func readScalars(ctx *context.Context, name string, fn func(float64) float64) ([]Named, error) {
	var out []Named
	for v := range nn.Parameters(ctx) {
		if v.Name() != name || v.Shape().Rank() != 0 {
			continue
		}
		value, err := v.Value()
		if err != nil || value == nil {
			return nil, fmt.Errorf("morph: %s has no value yet (run the model once to initialise it): %v", v.ScopeAndName(), err)
		}
		x, err := scalarValue(value)
		if err != nil {
			return nil, fmt.Errorf("morph: %s: %w", v.ScopeAndName(), err)
		}
		scope := nn.RelativeName(ctx.Scope(), v)
		scope = scope[:max(0, len(scope)-len(name)-1)]
		out = append(out, Named{Name: scope, Value: fn(x)})
	}
	return out, nil
}

func scalarValue(t *tensors.Tensor) (float64, error) {
	switch t.DType() {
	case dtypes.Float32:
		return float64(tensors.ToScalar[float32](t)), nil
	case dtypes.Float64:
		return tensors.ToScalar[float64](t), nil
	}
	return 0, fmt.Errorf("dtype %s is not float32 or float64", t.DType())
}
