package tinybert

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/internal/gradfix"
	"github.com/morphreuse/morphreuse-go/internal/nn"
)

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	return backend.MustDefault().Backend
}

var goldenOnce struct {
	sync.Once
	g   StateDict
	p   *Pretrained
	err error
}

// fixture returns the golden tensors and the fixture backbone, read once.
func fixture(t testing.TB) (StateDict, *Pretrained) {
	t.Helper()
	f := &goldenOnce
	f.Do(func() {
		if f.g, f.err = ReadSafetensorsFile(filepath.Join(fixtureDir, "goldens.safetensors")); f.err != nil {
			return
		}
		f.p, f.err = LoadPretrained(fixtureDir)
	})
	if f.err != nil {
		t.Fatal(f.err)
	}
	return f.g, f.p
}

// int32Tensor converts an int64 golden input to the model's int32.
func int32Tensor(t testing.TB, g *Tensor) *tensors.Tensor {
	t.Helper()
	if g == nil || g.DType != Int64 {
		t.Fatalf("golden input %v is not int64", g)
	}
	out := make([]int32, len(g.I64))
	for i, v := range g.I64 {
		out[i] = int32(v)
	}
	return tensors.FromFlatDataAndDimensions(out, g.Shape...)
}

// setupModel builds m from the fixture checkpoint in a fresh context; it returns the
// model's scope, set to reuse its variables.
func setupModel(t testing.TB, m *Model, sd StateDict, seed int64) *context.Context {
	t.Helper()
	root := context.New()
	if err := root.SetRNGStateFromSeed(seed); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Setup(testBackend(t), root.In("model"), sd); err != nil {
		t.Fatal(err)
	}
	return root.Reuse().In("model")
}

// tolerance is |got − want| ≤ atol + rtol·|want| elementwise.
type tolerance struct{ atol, rtol float64 }

var (
	activationTol = tolerance{1e-5, 1e-5} // the fixture README's recommendation
	lossTol       = tolerance{1e-6, 0}
	gradTol       = tolerance{1e-6, 1e-4}
)

// compare checks got against the golden want (same number of elements, shape
// compared by size) and returns the max abs difference.
func compare(t *testing.T, name string, got []float32, want *Tensor, tol tolerance) float64 {
	t.Helper()
	if want == nil {
		t.Fatalf("%s: no golden", name)
	}
	if len(got) != want.Len() {
		t.Fatalf("%s: %d values, golden %v has %d", name, len(got), want.Shape, want.Len())
	}
	maxDiff, bad, worst := 0.0, 0, -1
	for i, g := range got {
		w := float64(want.F32[i])
		d := math.Abs(float64(g) - w)
		if math.IsNaN(d) || d > tol.atol+tol.rtol*math.Abs(w) {
			bad++
			if worst < 0 {
				worst = i
			}
		}
		if d > maxDiff || math.IsNaN(d) {
			maxDiff = d
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values out of tolerance (atol %g, rtol %g); max |diff| %.3g; first at %d: got %v want %v",
			name, bad, len(got), tol.atol, tol.rtol, maxDiff, worst, got[worst], want.F32[worst])
	}
	return maxDiff
}

func flat32(t *testing.T, x *tensors.Tensor) []float32 {
	t.Helper()
	if x.DType() != dtypes.Float32 {
		t.Fatalf("output dtype %s, want float32", x.DType())
	}
	return tensors.MustCopyFlatData[float32](x)
}

// firstN keeps the first n examples of a [B, ...] output.
func firstN(x []float32, batch, n int) []float32 { return x[:len(x)/batch*n] }

// transposed returns a golden [out, in] weight's gradient in the model's [in, out] layout.
func transposed(w *Tensor) *Tensor {
	out, in := w.Shape[0], w.Shape[1]
	data := make([]float32, len(w.F32))
	for o := range out {
		for i := range in {
			data[i*out+o] = w.F32[o*in+i]
		}
	}
	return &Tensor{DType: Float32, Shape: []int{in, out}, F32: data}
}

// goldenGradients are the gradients of goldens.safetensors.
var goldenGradients = []string{
	"classifier.weight", "classifier.bias", "bert.pooler.dense.weight",
	"bert.encoder.layer.3.attention.self.query.weight", "bert.encoder.layer.3.attention.self.query.bias",
	"bert.encoder.layer.0.intermediate.dense.weight", "bert.encoder.layer.0.attention.output.LayerNorm.weight",
	"bert.embeddings.LayerNorm.weight", "bert.embeddings.position_embeddings.weight",
	"bert.embeddings.token_type_embeddings.weight",
}

// TestGoldenParity runs the fixture model (transformers' BertForSequenceClassification,
// eval mode) on the 16 SST-2 golden inputs and the 2 sentence pairs, and compares
// every golden: embeddings, each layer's output, layer 0's internals, every layer's
// attention probabilities, pooled output, logits, loss and the 10 gradients.
func TestGoldenParity(t *testing.T) {
	gold, p := fixture(t)
	m, err := NewModel(p.Config, Full)
	if err != nil {
		t.Fatal(err)
	}
	ctx := setupModel(t, m, p.Weights, 0)
	nLayers := p.Config.NumHiddenLayers

	// One graph: every activation, the loss and the gradients of the loss.
	var names []string
	exec := context.MustNewExec(testBackend(t), ctx, func(ctx *context.Context, in []*Node) []*Node {
		ids, mask, types, labels := in[0], in[1], in[2], in[3]
		o := m.Forward(ctx, ids, mask, types)
		oneHot := OneHot(labels, p.Config.NumLabels, dtypes.Float32)
		loss := ReduceAllMean(Neg(ReduceSum(Mul(oneHot, LogSoftmax(o.Logits, -1)), -1)))
		outs := []*Node{o.Embeddings}
		names = []string{"embeddings_output"}
		for l := range nLayers {
			outs = append(outs, o.Layers[l].Output, o.Layers[l].Probs)
			names = append(names, fmt.Sprintf("layer_%d_output", l), fmt.Sprintf("attentions.layer_%d", l))
		}
		l0 := o.Layers[0]
		outs = append(outs, l0.Query, l0.Key, l0.Value, l0.Context, l0.Attention, l0.Intermediate, o.Pooled, o.Logits, loss)
		names = append(names, "layer_0.query", "layer_0.key", "layer_0.value", "layer_0.attention.self_output",
			"layer_0.attention_output", "layer_0.intermediate_output", "pooled_output", "logits", "loss")
		var vars []*Node
		for _, key := range goldenGradients {
			scope, name, _, err := VariableFor(key)
			if err != nil {
				panic(err)
			}
			v := inScope(ctx, scope).GetVariable(name)
			if v == nil {
				panic(fmt.Sprintf("no variable for %s", key))
			}
			vars = append(vars, v.ValueGraph(ids.Graph()))
			names = append(names, "grad."+key)
		}
		return append(outs, Gradient(loss, vars...)...)
	})
	defer exec.Finalize()
	out, err := exec.Exec(int32Tensor(t, gold["input_ids"]), int32Tensor(t, gold["attention_mask"]),
		int32Tensor(t, gold["token_type_ids"]), int32Tensor(t, gold["labels"]))
	if err != nil {
		t.Fatal(err)
	}
	if gradfix.Fallbacks() != 0 {
		t.Errorf("%d gradients fell back to GoMLX's stock definitions", gradfix.Fallbacks())
	}

	group := map[string]float64{}
	for i, name := range names {
		got := flat32(t, out[i])
		want := gold[name]
		tol, kind := activationTol, "activations"
		switch {
		case name == "loss":
			tol, kind = lossTol, "loss"
		case strings.HasPrefix(name, "grad."):
			tol, kind = gradTol, "gradients"
			if _, _, transpose, _ := VariableFor(strings.TrimPrefix(name, "grad.")); transpose && want != nil {
				want = transposed(want)
			}
		case strings.HasPrefix(name, "attentions."):
			kind = "attention probs"
			got = firstN(got, 16, 2)
		case strings.HasPrefix(name, "layer_0."):
			kind = "layer 0 internals"
			got = firstN(got, 16, 2)
		case strings.HasPrefix(name, "layer_") || name == "embeddings_output":
			kind = "hidden states"
		case name == "pooled_output" || name == "logits":
			kind = "pooled, logits"
		}
		d := compare(t, name, got, want, tol)
		group[kind] = max(group[kind], d)
	}
	for _, kind := range slices.Sorted(func(yield func(string) bool) {
		for k := range group {
			if !yield(k) {
				return
			}
		}
	}) {
		t.Logf("max |diff| %-18s %.3g", kind, group[kind])
	}
}

// TestGoldenPairs checks the sentence-pair goldens (token types 1 in the second segment).
func TestGoldenPairs(t *testing.T) {
	gold, p := fixture(t)
	m, err := NewModel(p.Config, Full)
	if err != nil {
		t.Fatal(err)
	}
	ctx := setupModel(t, m, p.Weights, 0)
	exec := context.MustNewExec(testBackend(t), ctx, func(ctx *context.Context, ids, mask, types *Node) []*Node {
		o := m.Forward(ctx, ids, mask, types)
		return []*Node{o.Embeddings, o.Hidden, o.Pooled, o.Logits}
	})
	defer exec.Finalize()
	types := gold["pair.token_type_ids"]
	if !slices.Contains(types.I64, 1) {
		t.Fatal("pair goldens have no token type 1")
	}
	out, err := exec.Exec(int32Tensor(t, gold["pair.input_ids"]), int32Tensor(t, gold["pair.attention_mask"]), int32Tensor(t, types))
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i, name := range []string{"pair.embeddings_output", "pair.last_hidden_state", "pair.pooled_output", "pair.logits"} {
		worst = max(worst, compare(t, name, flat32(t, out[i]), gold[name], activationTol))
	}
	t.Logf("max |diff| pairs %.3g", worst)
}

// TestGoldenParityAcrossMethodsAndCache: every method computes the same function as
// the plain model before training (Baseline and LoRA exactly the checkpoint's, LoRA's
// B being zero), and the cached path (Frozen, then ForwardFrom) gives the same logits
// as Forward.
func TestGoldenParityAcrossMethodsAndCache(t *testing.T) {
	gold, p := fixture(t)
	ids, mask, types := int32Tensor(t, gold["input_ids"]), int32Tensor(t, gold["attention_mask"]), int32Tensor(t, gold["token_type_ids"])
	for _, method := range []Method{Baseline, LoRA, Morph} {
		t.Run(string(method), func(t *testing.T) {
			m, err := NewModel(p.Config, method)
			if err != nil {
				t.Fatal(err)
			}
			ctx := setupModel(t, m, p.Weights, 1)
			b := testBackend(t)
			plain := context.MustExecOnce(b, ctx, func(ctx *context.Context, ids, mask, types *Node) *Node {
				return m.Logits(ctx, ids, mask, types)
			}, ids, mask, types)
			hidden := context.MustExecOnce(b, ctx, func(ctx *context.Context, ids, mask, types *Node) *Node {
				return m.Frozen(ctx, ids, mask, types)
			}, ids, mask, types)
			cached := context.MustExecOnce(b, ctx, func(ctx *context.Context, hidden, mask *Node) *Node {
				return m.ForwardFrom(ctx, hidden, mask).Logits
			}, hidden, mask)
			compare(t, "cached logits", flat32(t, cached), &Tensor{DType: Float32, Shape: []int{16, 2}, F32: flat32(t, plain)}, tolerance{1e-6, 0})
			compare(t, "layer_1_output (frozen part)", flat32(t, hidden), gold["layer_1_output"], activationTol)
			if method != Morph {
				compare(t, "logits", flat32(t, plain), gold["logits"], activationTol)
			}
		})
	}
}

// TestVariableNamesCoverTheCheckpoint: every tensor a model reads becomes exactly one
// variable of the transposed shape, and the full model has no other parameter.
func TestVariableNamesCoverTheCheckpoint(t *testing.T) {
	_, p := fixture(t)
	m, err := NewModel(p.Config, Full)
	if err != nil {
		t.Fatal(err)
	}
	ctx := setupModel(t, m, p.Weights, 0)
	want := map[string][]int{}
	for _, k := range p.Config.ExpectedKeys() {
		scope, name, transpose, err := VariableFor(k.Name)
		if err != nil {
			t.Fatal(err)
		}
		shape := slices.Clone(k.Shape)
		if transpose {
			shape[0], shape[1] = shape[1], shape[0]
		}
		want[scope+"/"+name] = shape
	}
	got := map[string][]int{}
	for v := range nn.Parameters(ctx) {
		got[nn.RelativeName(ctx.Scope(), v)] = v.Shape().Dimensions
	}
	for name, shape := range want {
		if !slices.Equal(got[name], shape) {
			t.Errorf("%s: variable shape %v, want %v", name, got[name], shape)
		}
	}
	for name := range got {
		if want[name] == nil {
			t.Errorf("variable %s is no checkpoint tensor", name)
		}
	}
	for key, wantScope := range map[string]string{
		"bert.encoder.layer.11.output.LayerNorm.bias": "bert/encoder/layer_11/output/LayerNorm offset",
		"bert.embeddings.word_embeddings.weight":      "bert/embeddings/word_embeddings embeddings",
		"classifier.weight":                           "classifier weights",
	} {
		scope, name, _, err := VariableFor(key)
		if err != nil || scope+" "+name != wantScope {
			t.Errorf("VariableFor(%q) = %q %q, %v; want %q", key, scope, name, err, wantScope)
		}
	}
	for _, bad := range []string{"weight", "bert.embeddings.word_embeddings.bias", "bert.pooler.dense.kernel"} {
		if _, _, _, err := VariableFor(bad); err == nil {
			t.Errorf("VariableFor(%q): no error", bad)
		}
	}
}

// TestSetupRefusesBadCheckpoints: a missing or mis-shaped tensor is an error naming it
// and both shapes; unused extras (fit_denses, cls, position_ids) are ignored; a missing
// head is initialised.
func TestSetupRefusesBadCheckpoints(t *testing.T) {
	_, p := fixture(t)
	m, err := NewModel(p.Config, Baseline)
	if err != nil {
		t.Fatal(err)
	}
	clone := func() StateDict {
		sd := StateDict{}
		for k, v := range p.Weights {
			sd[k] = v
		}
		return sd
	}
	setup := func(sd StateDict) error {
		root := context.New()
		_, err := m.Setup(testBackend(t), root.In("model"), sd)
		return err
	}
	sd := clone()
	delete(sd, "bert.encoder.layer.2.intermediate.dense.weight")
	if err := setup(sd); err == nil || !strings.Contains(err.Error(), "bert.encoder.layer.2.intermediate.dense.weight") || !strings.Contains(err.Error(), "[64 32]") {
		t.Errorf("missing key: %v", err)
	}
	sd = clone()
	sd["bert.pooler.dense.bias"] = &Tensor{DType: Float32, Shape: []int{31}, F32: make([]float32, 31)}
	if err := setup(sd); err == nil || !strings.Contains(err.Error(), "bert.pooler.dense.bias") || !strings.Contains(err.Error(), "[31]") || !strings.Contains(err.Error(), "[32]") {
		t.Errorf("mis-shaped key: %v", err)
	}
	sd = clone()
	sd["cls.predictions.bias"] = &Tensor{DType: Float32, Shape: []int{3}, F32: make([]float32, 3)}
	delete(sd, "classifier.weight")
	delete(sd, "classifier.bias")
	root := context.New()
	if err := root.SetRNGStateFromSeed(3); err != nil {
		t.Fatal(err)
	}
	report, err := m.Setup(testBackend(t), root.In("model"), sd)
	if err != nil {
		t.Fatal(err)
	}
	if !report.InitHead {
		t.Error("no classifier in the checkpoint, but InitHead is not set")
	}
	w := root.In("model").In(ClassifierScope).GetVariable(nn.WeightsVar)
	if w == nil || !w.Trainable {
		t.Fatalf("classifier weights %v: missing or frozen", w)
	}
	values := tensors.MustCopyFlatData[float32](w.MustValue())
	var sumSq float64
	for _, v := range values {
		sumSq += float64(v) * float64(v)
	}
	if std := math.Sqrt(sumSq / float64(len(values))); std < 0.14 || std > 0.26 { // nn.Linear's init would give about 0.10
		t.Errorf("initialised head has std %.3f, want about initializer_range 0.2", std)
	}
}
