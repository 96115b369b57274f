package lora

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's own idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/nn"
)

// Variables and context parameters of a wrapped layer, in the layer's scope.
const (
	AVar = "lora_A" // [in, r], trainable
	BVar = "lora_B" // [r, out], trainable
	// GateVar is 1 while the adapter is enabled and 0 while disabled. Its "#"
	// prefix marks it as state, not a parameter (see nn.Parameters).
	GateVar = "#lora_enabled"

	paramScaling = "lora_scaling" // float64, at the layer's scope
	paramLayer   = "lora_dense"   // bool, at the scope of every Dense built: LoRA may wrap it
	paramApplied = "lora_applied" // JSON string of applied, at Apply's scope; "" once unloaded
)

// applied is what Apply records in the context (as JSON, so that it survives
// GoMLX checkpoints, which save context parameters as JSON).
type applied struct {
	Scope   string   `json:"scope"`
	Config  Config   `json:"config"`
	Wrapped []string `json:"wrapped"`
}

// Dense is nn.Linear(ctx, x, out, bias) — until Apply wraps this layer, after
// which it also adds scaling·(x·A)·B (times the enable gate). Build every
// linear layer LoRA may target with Dense.
func Dense(ctx *context.Context, x *Node, out int, bias bool) *Node {
	ctx.SetParam(paramLayer, true)
	y := nn.Linear(ctx, x, out, bias)
	// Apply sets the scaling: only then does the layer have an adapter. (Looking
	// for A first would pull it from a checkpoint being resumed before Apply.)
	scaling, found := ctx.GetParam(paramScaling)
	if !found || scaling == nil {
		return y
	}
	a, b, gate := ctx.GetVariable(AVar), ctx.GetVariable(BVar), ctx.GetVariable(GateVar)
	if a == nil || b == nil || gate == nil {
		panic(fmt.Sprintf("lora: layer %q has %s but not %s, %s and its scaling: a damaged adapter", ctx.Scope(), AVar, BVar, GateVar))
	}
	g := x.Graph()
	delta := nn.Affine(nn.Affine(x, a.ValueGraph(g), nil), b.ValueGraph(g), nil)
	delta = Mul(MulScalar(delta, toFloat(scaling)), gate.ValueGraph(g))
	return Add(y, delta)
}

// toFloat reads a float64 parameter back (checkpoints may return it as another number type).
func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case float32:
		return float64(x)
	case int:
		return float64(x)
	}
	panic(fmt.Sprintf("lora: scaling parameter has type %T", v))
}

// layer is one Dense layer found in a context.
type layer struct {
	name    string // scope relative to Apply's scope
	scope   string // absolute scope
	weights *context.Variable
	biases  *context.Variable // nil without bias
}

func (l layer) variable(ctx *context.Context, name string) *context.Variable {
	return ctx.InspectVariableIfLoaded(l.scope, name)
}

// denseLayers lists the Dense layers under ctx's scope, in creation order.
func denseLayers(ctx *context.Context) []layer {
	base := ctx.Scope()
	marked := map[string]bool{}
	ctx.EnumerateParams(func(scope, key string, value any) {
		if key == paramLayer && value == true && underScope(base, scope) {
			marked[scope] = true
		}
	})
	var layers []layer
	for v := range ctx.IterVariablesInScope() {
		if v.Name() != nn.WeightsVar || v.Shape().Rank() != 2 || !marked[v.Scope()] {
			continue
		}
		name := strings.TrimSuffix(nn.RelativeName(base, v), "/"+nn.WeightsVar)
		layers = append(layers, layer{name: name, scope: v.Scope(), weights: v,
			biases: ctx.InspectVariableIfLoaded(v.Scope(), nn.BiasesVar)})
	}
	return layers
}

func underScope(base, scope string) bool {
	if base == context.RootScope {
		return true
	}
	return scope == base || strings.HasPrefix(scope, base+context.ScopeSeparator)
}

func layerNames(layers []layer) string {
	names := make([]string, len(layers))
	for i, l := range layers {
		names[i] = l.name
	}
	return strings.Join(names, ", ")
}

// readApplied returns what Apply recorded at exactly ctx's scope, if anything.
func readApplied(ctx *context.Context) (*applied, error) {
	v, found := ctx.GetParam(paramApplied)
	s, _ := v.(string)
	if !found || s == "" {
		return nil, nil
	}
	var a applied
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("lora: unreadable adapter record at %q: %w", ctx.Scope(), err)
	}
	if a.Scope != ctx.Scope() {
		return nil, nil // Recorded at an enclosing scope: not this one's.
	}
	return &a, nil
}

func mustApplied(ctx *context.Context) (*applied, error) {
	a, err := readApplied(ctx)
	if err == nil && a == nil {
		err = fmt.Errorf("lora: no adapter applied at scope %q (Apply and Load record it at the scope they are given)", ctx.Scope())
	}
	return a, err
}

// Apply wraps the Dense layers under ctx's scope that cfg.Targets select:
// their weights and biases are frozen, and A (kaiming-uniform) and B (zeros)
// are created next to them, trainable, in W's dtype. It returns the names of
// the wrapped layers, in model order. It fails, changing nothing, when a
// target selects no layer, when no Dense layer exists yet (build the model
// graph once first), or when an adapter is already applied here.
//
// A is initialised from the context's RNG by the next executor run (or
// ctx.InitializeVariables).
func Apply(ctx *context.Context, cfg Config) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if a, err := readApplied(ctx); err != nil || a != nil {
		if err == nil {
			err = fmt.Errorf("lora: an adapter is already applied at %q (on %s); merge it or start from a fresh model", ctx.Scope(), strings.Join(a.Wrapped, ", "))
		}
		return nil, err
	}
	layers := denseLayers(ctx)
	if len(layers) == 0 {
		return nil, fmt.Errorf("lora: no lora.Dense layer under scope %q: build the model graph once (creating its variables) before Apply", ctx.Scope())
	}
	var selected []layer
	var errs []error
	for _, t := range cfg.Targets {
		n := 0
		for _, l := range layers {
			if matches(t, l.name) {
				n++
				if !slices.ContainsFunc(selected, func(s layer) bool { return s.scope == l.scope }) {
					selected = append(selected, l)
				}
			}
		}
		if n == 0 {
			errs = append(errs, fmt.Errorf("target %q matches no layer", t))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("lora: %w (Dense layers under %q: %s)", errors.Join(errs...), ctx.Scope(), layerNames(layers))
	}
	slices.SortStableFunc(selected, func(a, b layer) int { return slices.Index(layers, a) - slices.Index(layers, b) })
	return wrap(ctx, cfg, selected)
}

// wrap does Apply's work on the selected layers, after checking all of them.
func wrap(ctx *context.Context, cfg Config, selected []layer) ([]string, error) {
	for _, l := range selected {
		if l.variable(ctx, AVar) != nil {
			return nil, fmt.Errorf("lora: layer %q is already wrapped", l.name)
		}
		if dt := l.weights.DType(); dt != dtypes.Float32 && dt != dtypes.Float64 {
			return nil, fmt.Errorf("lora: layer %q has dtype %s; LoRA supports float32 and float64", l.name, dt)
		}
	}
	names := make([]string, len(selected))
	for i, l := range selected {
		names[i] = l.name
		dtype := l.weights.DType()
		in, out := l.weights.Shape().Dimensions[0], l.weights.Shape().Dimensions[1]
		l.weights.SetTrainable(false)
		if l.biases != nil {
			l.biases.SetTrainable(false)
		}
		lctx := ctx.InAbsPath(l.scope).Checked(false)
		lctx.WithInitializer(nn.KaimingUniform(ctx, math.Sqrt(5))).VariableWithShape(AVar, shapes.Make(dtype, in, cfg.Rank))
		lctx.VariableWithValue(BVar, fromFloat64(make([]float64, cfg.Rank*out), dtype, cfg.Rank, out))
		lctx.VariableWithValue(GateVar, fromFloat64([]float64{1}, dtype)).SetTrainable(false)
		lctx.SetParam(paramScaling, cfg.Scaling())
	}
	record, err := json.Marshal(applied{Scope: ctx.Scope(), Config: cfg, Wrapped: names})
	if err != nil {
		return nil, err
	}
	ctx.SetParam(paramApplied, string(record))
	return names, nil
}

// Wrapped lists the layers wrapped by the adapter applied at ctx's scope (nil if none).
func Wrapped(ctx *context.Context) []string {
	a, err := readApplied(ctx)
	if err != nil || a == nil {
		return nil
	}
	return slices.Clone(a.Wrapped)
}

// Disable makes every wrapped layer under ctx's scope compute its base output
// exactly (x·W + b), in executors already built too, until Enable.
func Disable(ctx *context.Context) error { return setGates(ctx, 0) }

// Enable undoes Disable.
func Enable(ctx *context.Context) error { return setGates(ctx, 1) }

func setGates(ctx *context.Context, value float64) error {
	a, err := mustApplied(ctx)
	if err != nil {
		return err
	}
	for _, name := range a.Wrapped {
		gate := ctx.InspectVariableIfLoaded(joinScope(ctx.Scope(), name), GateVar)
		if gate == nil {
			return fmt.Errorf("lora: layer %q has no %s", name, GateVar)
		}
		if err := gate.SetValue(fromFloat64([]float64{value}, gate.DType())); err != nil {
			return err
		}
	}
	return nil
}

func joinScope(base, rel string) string {
	if base == context.RootScope {
		return base + rel
	}
	return base + context.ScopeSeparator + rel
}

// MergeAndUnload folds every adapter under ctx's scope into its layer,
// W ← W + scaling·A·B (computed in float64, whether or not the adapter is
// currently disabled), then deletes A, B and the gate: the layers are plain
// linears again, with the merged weights, still frozen. It returns the merged
// layers. Executors built before must be rebuilt.
func MergeAndUnload(ctx *context.Context) ([]string, error) {
	a, err := mustApplied(ctx)
	if err != nil {
		return nil, err
	}
	scaling := a.Config.Scaling()
	type merged struct {
		w     *context.Variable
		value *tensors.Tensor
	}
	var updates []merged
	for _, name := range a.Wrapped {
		scope := joinScope(ctx.Scope(), name)
		w, av, bv := ctx.InspectVariableIfLoaded(scope, nn.WeightsVar), ctx.InspectVariableIfLoaded(scope, AVar), ctx.InspectVariableIfLoaded(scope, BVar)
		if w == nil || av == nil || bv == nil || !w.HasValue() || !av.HasValue() || !bv.HasValue() {
			return nil, fmt.Errorf("lora: layer %q: weights, %s or %s missing or not initialised", name, AVar, BVar)
		}
		in, out, r := w.Shape().Dimensions[0], w.Shape().Dimensions[1], av.Shape().Dimensions[1]
		wf, af, bf := toFloat64(w.MustValue()), toFloat64(av.MustValue()), toFloat64(bv.MustValue())
		for i := range in {
			for k := range r {
				aik := scaling * af[i*r+k]
				for j := range out {
					wf[i*out+j] += aik * bf[k*out+j]
				}
			}
		}
		updates = append(updates, merged{w, fromFloat64(wf, w.DType(), in, out)})
	}
	for i, u := range updates {
		if err := u.w.SetValue(u.value); err != nil {
			return nil, err
		}
		scope := joinScope(ctx.Scope(), a.Wrapped[i])
		for _, name := range []string{AVar, BVar, GateVar} {
			if err := ctx.DeleteVariable(scope, name); err != nil {
				return nil, err
			}
		}
		ctx.InAbsPath(scope).SetParam(paramScaling, nil) // Unwrapped: Dense is plain again.
	}
	ctx.SetParam(paramApplied, "")
	return slices.Clone(a.Wrapped), nil
}

// toFloat64 copies a float32 or float64 tensor's values as float64.
func toFloat64(t *tensors.Tensor) []float64 {
	switch t.DType() {
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](t)
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](t)
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	}
	panic(fmt.Sprintf("lora: dtype %s is not float32 or float64", t.DType()))
}

// fromFloat64 builds a tensor of dtype (float32 or float64) from float64 values.
func fromFloat64(data []float64, dtype dtypes.DType, dims ...int) *tensors.Tensor {
	switch dtype {
	case dtypes.Float64:
		return tensors.FromFlatDataAndDimensions(data, dims...)
	case dtypes.Float32:
		f := make([]float32, len(data))
		for i, v := range data {
			f[i] = float32(v)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...)
	}
	panic(fmt.Sprintf("lora: dtype %s is not float32 or float64", dtype))
}
