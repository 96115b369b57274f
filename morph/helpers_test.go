package morph

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/internal/gradfix"
)

// Small helpers shared by this package's tests; the references below are
// plain Go loops, independent of GoMLX.

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	return backend.MustDefault().Backend
}

func assertNoGradientFallbacks(t *testing.T) {
	t.Helper()
	if f := gradfix.Fallbacks(); f != 0 {
		t.Errorf("gradfix fell back to stock gradients %d times", f)
	}
}

// matrix is a row-major [rows, cols] float64 matrix.
type matrix struct {
	rows, cols int
	data       []float64
}

func randMatrix(rng *rand.Rand, rows, cols int, scale float64) matrix {
	m := matrix{rows, cols, make([]float64, rows*cols)}
	for i := range m.data {
		m.data[i] = scale * rng.NormFloat64()
	}
	return m
}

func (m matrix) tensor() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(m.data, m.rows, m.cols)
}
func (m matrix) at(i, j int) float64 { return m.data[i*m.cols+j] }

// mul is a·b, plus the bias row b (if given) on every row.
func mul(a, b matrix, bias []float64) matrix {
	out := matrix{a.rows, b.cols, make([]float64, a.rows*b.cols)}
	for i := range a.rows {
		for j := range b.cols {
			s := 0.0
			if bias != nil {
				s = bias[j]
			}
			for k := range a.cols {
				s += a.at(i, k) * b.at(k, j)
			}
			out.data[i*out.cols+j] = s
		}
	}
	return out
}

func mapMatrix(m matrix, fn func(float64) float64) matrix {
	out := matrix{m.rows, m.cols, make([]float64, len(m.data))}
	for i, v := range m.data {
		out.data[i] = fn(v)
	}
	return out
}

func gelu(x float64) float64 { return x * 0.5 * (1 + math.Erf(x/math.Sqrt2)) }

func layerNormRows(m matrix, gain, offset []float64, eps float64) matrix {
	out := matrix{m.rows, m.cols, make([]float64, len(m.data))}
	for i := range m.rows {
		row := m.data[i*m.cols : (i+1)*m.cols]
		mean, variance := 0.0, 0.0
		for _, v := range row {
			mean += v
		}
		mean /= float64(m.cols)
		for _, v := range row {
			variance += (v - mean) * (v - mean)
		}
		variance /= float64(m.cols)
		for j, v := range row {
			out.data[i*m.cols+j] = (v-mean)/math.Sqrt(variance+eps)*gain[j] + offset[j]
		}
	}
	return out
}

// coreWeights are the values of one core's variables.
type coreWeights struct {
	w1, w2       matrix
	b1, b2       []float64
	gain, offset []float64
	s            float64
}

func randCoreWeights(rng *rand.Rand, cfg CoreConfig) coreWeights {
	h := cfg.Hidden()
	vec := func(n int, center float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = center + 0.3*rng.NormFloat64()
		}
		return v
	}
	return coreWeights{
		w1: randMatrix(rng, cfg.Dim, h, 0.5), b1: vec(h, 0),
		gain: vec(h, 1), offset: vec(h, 0),
		w2: randMatrix(rng, h, cfg.Dim, 0.5), b2: vec(cfg.Dim, 0),
		s: 0.7,
	}
}

// referenceCore is x + 2·sigmoid(s)·(W2·GELU(LN(W1·x + b1)) + b2), row by row.
func referenceCore(x matrix, w coreWeights) matrix {
	h := mapMatrix(layerNormRows(mul(x, w.w1, w.b1), w.gain, w.offset, 1e-5), gelu)
	y := mul(h, w.w2, w.b2)
	alpha := 2 / (1 + math.Exp(-w.s))
	out := matrix{x.rows, x.cols, make([]float64, len(x.data))}
	for i := range out.data {
		out.data[i] = x.data[i] + alpha*y.data[i]
	}
	return out
}

// setCore writes w into the core variables under scope (which must exist).
func setCore(t *testing.T, ctx *context.Context, scope string, w coreWeights) {
	t.Helper()
	set := func(sub, name string, value *tensors.Tensor) {
		t.Helper()
		v := ctx.GetVariableByScopeAndName(scope+sub, name)
		if v == nil {
			t.Fatalf("no variable %s/%s", scope+sub, name)
		}
		if err := v.SetValue(value); err != nil {
			t.Fatal(err)
		}
	}
	set("/fc1", "weights", w.w1.tensor())
	set("/fc1", "biases", tensors.FromValue(w.b1))
	set("/norm", "gain", tensors.FromValue(w.gain))
	set("/norm", "offset", tensors.FromValue(w.offset))
	set("/fc2", "weights", w.w2.tensor())
	set("/fc2", "biases", tensors.FromValue(w.b2))
	set("", CoreScaleVar, tensors.FromScalar(w.s))
}

// setVar writes value into the existing variable scope/name.
func setVar(t *testing.T, ctx *context.Context, scope, name string, value *tensors.Tensor) {
	t.Helper()
	v := ctx.GetVariableByScopeAndName(scope, name)
	if v == nil {
		t.Fatalf("no variable %s/%s", scope, name)
	}
	if err := v.SetValue(value); err != nil {
		t.Fatal(err)
	}
}

func flat(t *tensors.Tensor) []float64 { return tensors.MustCopyFlatData[float64](t) }

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol || math.IsNaN(got[i]) {
			t.Errorf("%s[%d] = %.12g, want %.12g", what, i, got[i], want[i])
		}
	}
}

// forward compiles fn on a fresh context seeded with seed and runs it once on
// x, creating and initialising the variables. It returns the context and the
// executor, to run again after changing variable values.
func forward(t *testing.T, seed int64, fn func(ctx *context.Context, x *Node) *Node, x *tensors.Tensor) (*context.Context, *context.Exec) {
	t.Helper()
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(seed); err != nil {
		t.Fatal(err)
	}
	exec := context.MustNewExec(testBackend(t), ctx, fn)
	exec.MustExec(x)
	return ctx, exec
}
