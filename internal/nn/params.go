package nn

import (
	"iter"
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/metrics"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// trainingStateScopes are the scopes where GoMLX keeps training state, not model parameters.
var trainingStateScopes = map[string]bool{
	optimizers.Scope:            true, // learning rate
	optimizers.AdamDefaultScope: true, // Adam's moments and step
	metrics.Scope:               true, // running averages
}

// Parameters yields the model parameters under ctx's scope, in creation
// order: every variable whose scope is ctx.Scope() or below it, except
// GoMLX's bookkeeping, which is recognised by name:
//   - variables whose name starts with "#" (the RNG state "#rngState", and
//     this project's own non-parameter state such as LoRA's enable gate);
//   - "global_step" counters;
//   - anything under a scope element named "optimizers", "AdamOptimizer" or
//     "metrics" (learning rate, optimizer moments, metric averages).
//
// A variable shared by several layers exists once in a context, so it is
// yielded once. Parameter counters (morph.CountParameters) and adapter files
// (lora.Save) use this one rule.
func Parameters(ctx *context.Context) iter.Seq[*context.Variable] {
	return func(yield func(*context.Variable) bool) {
		base := ctx.Scope()
		for v := range ctx.IterVariablesInScope() {
			if !IsParameter(base, v) {
				continue
			}
			if !yield(v) {
				return
			}
		}
	}
}

// IsParameter reports whether v (under scope base) is a model parameter by the rule of Parameters.
func IsParameter(base string, v *context.Variable) bool {
	if strings.HasPrefix(v.Name(), "#") || v.Name() == optimizers.GlobalStepVariableName {
		return false
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(v.Scope(), base), context.ScopeSeparator)
	for _, elem := range strings.Split(rel, context.ScopeSeparator) {
		if trainingStateScopes[elem] {
			return false
		}
	}
	return true
}

// RelativeName is v's scope and name relative to the scope base, e.g.
// "fc1/weights" for "/model/fc1" + "weights" under "/model".
func RelativeName(base string, v *context.Variable) string {
	rel := strings.TrimPrefix(v.Scope(), base)
	rel = strings.TrimPrefix(rel, context.ScopeSeparator)
	if rel == "" {
		return v.Name()
	}
	return rel + context.ScopeSeparator + v.Name()
}
