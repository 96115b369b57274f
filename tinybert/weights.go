package tinybert

// How a Hugging Face state dict maps onto GoMLX variables. The model's scopes
// follow HF's module names with "/" for "." and "layer_N" for "layer.N", so
// "bert.encoder.layer.3.attention.self.query.weight" is the variable "weights"
// of scope "bert/encoder/layer_3/attention/self/query" (under the model's own
// scope). Linear weights are stored [in, out] (internal/nn's layout, x·W + b)
// and so are HF's [out, in] transposed; LayerNorm weight/bias are nn's
// "gain"/"offset"; embedding tables keep their layout as "embeddings".

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/nn"
)

// EmbeddingsVar is the variable name of an embedding table.
const EmbeddingsVar = "embeddings"

// VariableFor maps a checkpoint key the model reads (see Config.ExpectedKeys) to
// its GoMLX variable: the scope relative to the model's scope, the variable
// name, and whether the tensor is transposed ([out, in] → [in, out]).
func VariableFor(key string) (scope, name string, transpose bool, err error) {
	parts := strings.Split(key, ".")
	if len(parts) < 2 {
		return "", "", false, fmt.Errorf("tinybert: checkpoint key %q is not <module>.weight or <module>.bias", key)
	}
	last, owner := parts[len(parts)-1], parts[len(parts)-2]
	var elems []string
	for i := 0; i < len(parts)-1; i++ {
		if parts[i] == "layer" && i+1 < len(parts)-1 && isDigits(parts[i+1]) {
			elems = append(elems, "layer_"+parts[i+1])
			i++
			continue
		}
		elems = append(elems, parts[i])
	}
	scope = strings.Join(elems, "/")
	switch {
	case last != "weight" && last != "bias":
		return "", "", false, fmt.Errorf("tinybert: checkpoint key %q is not <module>.weight or <module>.bias", key)
	case owner == "LayerNorm" && last == "weight":
		return scope, nn.GainVar, false, nil
	case owner == "LayerNorm":
		return scope, nn.OffsetVar, false, nil
	case strings.HasSuffix(owner, "_embeddings") && last == "weight":
		return scope, EmbeddingsVar, false, nil
	case strings.HasSuffix(owner, "_embeddings"):
		return "", "", false, fmt.Errorf("tinybert: checkpoint key %q: embeddings have no bias", key)
	case last == "weight":
		return scope, nn.WeightsVar, true, nil
	}
	return scope, nn.BiasesVar, false, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// inScope returns ctx moved down a "/"-separated relative scope.
func inScope(ctx *context.Context, rel string) *context.Context {
	for _, e := range strings.Split(rel, "/") {
		ctx = ctx.In(e)
	}
	return ctx
}

// variableValue converts a checkpoint tensor to the value of its variable
// (float32, transposed when the key is a linear weight).
func variableValue(t *Tensor, transpose bool) *tensors.Tensor {
	if !transpose {
		return tensors.FromFlatDataAndDimensions(t.F32, t.Shape...)
	}
	out, in := t.Shape[0], t.Shape[1]
	data := make([]float32, len(t.F32))
	for o := range out {
		row := t.F32[o*in : (o+1)*in]
		for i, v := range row {
			data[i*out+o] = v
		}
	}
	return tensors.FromFlatDataAndDimensions(data, in, out)
}

// loadVariables creates, under ctx (the model's scope), the variable of every
// key of cfg.ExpectedKeys() that use selects, with its value from sd. Keys are
// checked first (CheckKeys): a missing or mis-shaped tensor is an error naming
// it and both shapes, and nothing is created. The head (classifier.*) may be
// missing: it is then left out and the report's InitHead is set.
func loadVariables(ctx *context.Context, cfg Config, sd StateDict, use func(key string) bool) (*KeyReport, error) {
	report, err := CheckKeys(cfg, sd)
	if err != nil {
		return nil, err
	}
	ctx = ctx.Checked(false)
	for _, k := range cfg.ExpectedKeys() {
		t, ok := sd[k.Name]
		if !use(k.Name) || !ok {
			continue
		}
		scope, name, transpose, err := VariableFor(k.Name)
		if err != nil {
			return nil, err
		}
		value := variableValue(t, transpose)
		v := inScope(ctx, scope).VariableWithValue(name, value)
		if !slices.Equal(v.Shape().Dimensions, value.Shape().Dimensions) || v.Shape().DType != value.DType() {
			return nil, fmt.Errorf("tinybert: %s: variable %s exists with shape %s, checkpoint gives %s",
				k.Name, v.ScopeAndName(), v.Shape(), value.Shape())
		}
	}
	return report, nil
}

// RandomWeights is a checkpoint of cfg initialised as transformers initialises a
// BertForSequenceClassification (normal(0, initializer_range) linear weights and
// embeddings, zero biases and [PAD] row, LayerNorm 1 and 0), drawn from a PCG
// seeded with seed. It lets a model of the real shape be built without any file
// (parameter counts, benchmarks).
func RandomWeights(cfg Config, seed uint64) StateDict {
	rng := rand.New(rand.NewPCG(seed, 0x7b1e))
	sd := StateDict{}
	std := cfg.InitializerRange
	for _, k := range cfg.ExpectedKeys() {
		n := 1
		for _, d := range k.Shape {
			n *= d
		}
		data := make([]float32, n)
		_, name, _, _ := VariableFor(k.Name)
		switch name {
		case nn.GainVar:
			for i := range data {
				data[i] = 1
			}
		case nn.WeightsVar, EmbeddingsVar:
			for i := range data {
				data[i] = float32(rng.NormFloat64() * std)
			}
		}
		if k.Name == "bert.embeddings.word_embeddings.weight" {
			clear(data[cfg.PadTokenID*cfg.HiddenSize : (cfg.PadTokenID+1)*cfg.HiddenSize])
		}
		sd[k.Name] = &Tensor{DType: Float32, Shape: slices.Clone(k.Shape), F32: data}
	}
	return sd
}
