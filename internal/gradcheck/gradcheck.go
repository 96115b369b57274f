// Package gradcheck compares gradients built by GoMLX against central finite
// differences, for tests. Use float64 inputs/variables: finite differences in
// float32 are too noisy to catch small errors.
//
// Inputs checks d f/d inputs of a graph function; Variables checks d loss/d v
// for every trainable variable of a context. Both compare, along random
// directions d, the analytic <∇f, d> with (f(x+εd) − f(x−εd)) / 2ε, and also
// element by element for small tensors.
package gradcheck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Options of a check; zero values take the defaults.
type Options struct {
	Eps         float64 // finite-difference step; default 1e-5
	Tol         float64 // allowed |fd − analytic| / max(1, |analytic|); default 1e-6
	Directions  int     // random directions per tensor; default 3
	Elementwise int     // check each element of tensors up to this size; default 16
	Seed        uint64
}

func (o Options) withDefaults() Options {
	if o.Eps == 0 {
		o.Eps = 1e-5
	}
	if o.Tol == 0 {
		o.Tol = 1e-6
	}
	if o.Directions == 0 {
		o.Directions = 3
	}
	if o.Elementwise == 0 {
		o.Elementwise = 16
	}
	return o
}

// Inputs checks the gradient of the scalar fn with respect to each of its float64 inputs.
func Inputs(t testing.TB, backend backends.Backend, fn func(inputs []*Node) *Node, inputs []*tensors.Tensor, opts Options) {
	t.Helper()
	opts = opts.withDefaults()
	lossExec := MustNewExec(backend, func(in []*Node) *Node { return fn(in) })
	defer lossExec.Finalize()
	gradExec := MustNewExec(backend, func(in []*Node) []*Node { return Gradient(fn(in), in...) })
	defer gradExec.Finalize()

	values := make([][]float64, len(inputs))
	for i, x := range inputs {
		values[i] = tensors.MustCopyFlatData[float64](x)
	}
	eval := func() float64 {
		args := make([]any, len(values))
		for i, v := range values {
			args[i] = tensors.FromFlatDataAndDimensions(v, inputs[i].Shape().Dimensions...)
		}
		out := lossExec.MustExec(args...)[0]
		return scalar(t, out)
	}
	args := make([]any, len(inputs))
	for i, x := range inputs {
		args[i] = x
	}
	grads := gradExec.MustExec(args...)
	for i := range inputs {
		compare(t, fmt.Sprintf("input #%d %s", i, inputs[i].Shape()), values[i], tensors.MustCopyFlatData[float64](grads[i]), eval, opts)
	}
}

// Variables checks the gradient of the scalar loss with respect to every
// trainable variable of ctx that the loss uses. Variables must be float64.
// It returns how many variables were checked.
func Variables(t testing.TB, backend backends.Backend, ctx *context.Context, loss func(ctx *context.Context, g *Graph) *Node, opts Options) int {
	t.Helper()
	opts = opts.withDefaults()
	var vars []*context.Variable
	gradExec := context.MustNewExec(backend, ctx, func(ctx *context.Context, g *Graph) []*Node {
		l := loss(ctx, g)
		vars = vars[:0]
		var nodes []*Node
		for v := range ctx.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) {
				vars = append(vars, v)
				nodes = append(nodes, v.ValueGraph(g))
			}
		}
		return Gradient(l, nodes...)
	})
	defer gradExec.Finalize()
	grads := gradExec.MustExec()
	lossExec := context.MustNewExec(backend, ctx, func(ctx *context.Context, g *Graph) *Node { return loss(ctx, g) })
	defer lossExec.Finalize()

	for i, v := range vars {
		shape := v.Shape()
		values := tensors.MustCopyFlatData[float64](v.MustValue())
		original := append([]float64(nil), values...)
		eval := func() float64 {
			v.MustSetValue(tensors.FromFlatDataAndDimensions(append([]float64(nil), values...), shape.Dimensions...))
			return scalar(t, lossExec.MustExec()[0])
		}
		compare(t, v.ScopeAndName(), values, tensors.MustCopyFlatData[float64](grads[i]), eval, opts)
		v.MustSetValue(tensors.FromFlatDataAndDimensions(original, shape.Dimensions...))
	}
	return len(vars)
}

// compare perturbs values in place (restoring them) and checks grad against central differences of eval.
func compare(t testing.TB, name string, values, grad []float64, eval func() float64, opts Options) {
	t.Helper()
	rng := rand.New(rand.NewPCG(opts.Seed, uint64(len(values))))
	check := func(what string, dir []float64) {
		t.Helper()
		var analytic float64
		saved := append([]float64(nil), values...)
		for j, d := range dir {
			analytic += grad[j] * d
			values[j] = saved[j] + opts.Eps*d
		}
		plus := eval()
		for j, d := range dir {
			values[j] = saved[j] - opts.Eps*d
		}
		minus := eval()
		copy(values, saved)
		numeric := (plus - minus) / (2 * opts.Eps)
		if diff := math.Abs(numeric - analytic); diff > opts.Tol*math.Max(1, math.Abs(analytic)) || math.IsNaN(diff) {
			t.Errorf("%s, %s: analytic gradient %.10g, finite differences %.10g (diff %.3g)", name, what, analytic, numeric, diff)
		}
	}
	if len(values) <= opts.Elementwise {
		for j := range values {
			dir := make([]float64, len(values))
			dir[j] = 1
			check(fmt.Sprintf("element %d", j), dir)
		}
	}
	for k := range opts.Directions {
		dir := make([]float64, len(values))
		for j := range dir {
			dir[j] = rng.NormFloat64()
		}
		check(fmt.Sprintf("random direction %d", k), dir)
	}
}

func scalar(t testing.TB, x *tensors.Tensor) float64 {
	t.Helper()
	if x.Shape().Size() != 1 {
		t.Fatalf("gradcheck: loss must be a scalar, got shape %s", x.Shape())
	}
	return tensors.MustCopyFlatData[float64](x)[0]
}
