package tinybert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// Config is a Hugging Face BertConfig (config.json). Keys missing from the file take
// BertConfig's defaults, as transformers does: the real TinyBERT config.json, for
// instance, has no layer_norm_eps and relies on the 1e-12 default.
type Config struct {
	VocabSize                 int     `json:"vocab_size"`
	HiddenSize                int     `json:"hidden_size"`
	NumHiddenLayers           int     `json:"num_hidden_layers"`
	NumAttentionHeads         int     `json:"num_attention_heads"`
	IntermediateSize          int     `json:"intermediate_size"`
	MaxPositionEmbeddings     int     `json:"max_position_embeddings"`
	TypeVocabSize             int     `json:"type_vocab_size"`
	LayerNormEps              float64 `json:"layer_norm_eps"`
	HiddenAct                 string  `json:"hidden_act"`
	HiddenDropoutProb         float64 `json:"hidden_dropout_prob"`
	AttentionProbsDropoutProb float64 `json:"attention_probs_dropout_prob"`
	// ClassifierDropout nil means "use HiddenDropoutProb" (BertForSequenceClassification).
	ClassifierDropout *float64 `json:"classifier_dropout"`
	InitializerRange  float64  `json:"initializer_range"`
	PadTokenID        int      `json:"pad_token_id"`
	// NumLabels is len(ID2Label) when the file has id2label (save_pretrained writes that,
	// not num_labels); 2 when it has neither, like transformers.
	NumLabels             int            `json:"num_labels"`
	ID2Label              map[int]string `json:"id2label,omitempty"`
	PositionEmbeddingType string         `json:"position_embedding_type"`
	ModelType             string         `json:"model_type"`
}

// TinyBERTGeneral4L312DRepo is the Hugging Face repository of the SPEC's backbone.
const TinyBERTGeneral4L312DRepo = "huawei-noah/TinyBERT_General_4L_312D"

// TinyBERTGeneral4L312D is the configuration of huawei-noah/TinyBERT_General_4L_312D, so a
// model of the right shape can be built without any file (e.g. for parameter counts).
func TinyBERTGeneral4L312D() Config {
	c := defaultConfig()
	c.HiddenSize = 312
	c.NumHiddenLayers = 4
	c.NumAttentionHeads = 12
	c.IntermediateSize = 1200
	return c
}

// defaultConfig is BertConfig() of transformers 4.29 (bert-base-uncased sizes).
func defaultConfig() Config {
	return Config{
		VocabSize: 30522, HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12,
		IntermediateSize: 3072, MaxPositionEmbeddings: 512, TypeVocabSize: 2, LayerNormEps: 1e-12,
		HiddenAct: "gelu", HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1,
		InitializerRange: 0.02, NumLabels: 2, PositionEmbeddingType: "absolute", ModelType: "bert",
	}
}

// LoadConfig reads and validates a config.json.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses and validates config.json contents.
func ParseConfig(data []byte) (Config, error) {
	c := defaultConfig()
	c.NumLabels = 0 // 0 = not given; resolved below
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return Config{}, errors.New("config.json: not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config.json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, errors.New("config.json: trailing data after the JSON object")
	}
	switch {
	case c.NumLabels == 0 && len(c.ID2Label) > 0:
		c.NumLabels = len(c.ID2Label)
	case c.NumLabels == 0:
		c.NumLabels = 2
	case len(c.ID2Label) > 0 && len(c.ID2Label) != c.NumLabels:
		return Config{}, fmt.Errorf("config.json: num_labels %d but id2label has %d entries", c.NumLabels, len(c.ID2Label))
	}
	if c.ModelType == "" {
		c.ModelType = "bert" // old configs (TinyBERT's among them) have no model_type
	}
	if c.PositionEmbeddingType == "" {
		c.PositionEmbeddingType = "absolute"
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Limits that keep a valid Config's parameter count computable in int64 and its model
// buildable; real BERTs are orders of magnitude below them.
const (
	maxConfigDim    = 1 << 24
	maxConfigLayers = 1024
	maxConfigParams = 1e11
)

// Validate reports every problem of the configuration in one error, before a graph is
// built from it.
func (c Config) Validate() error {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	for _, f := range []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"num_attention_heads", c.NumAttentionHeads},
		{"intermediate_size", c.IntermediateSize}, {"max_position_embeddings", c.MaxPositionEmbeddings},
		{"type_vocab_size", c.TypeVocabSize}, {"num_labels", c.NumLabels},
	} {
		if f.v <= 0 || f.v > maxConfigDim {
			bad("%s = %d must be in [1, %d]", f.name, f.v, maxConfigDim)
		}
	}
	if c.NumHiddenLayers <= 0 || c.NumHiddenLayers > maxConfigLayers {
		bad("num_hidden_layers = %d must be in [1, %d]", c.NumHiddenLayers, maxConfigLayers)
	}
	if c.HiddenSize > 0 && c.NumAttentionHeads > 0 && c.HiddenSize%c.NumAttentionHeads != 0 {
		bad("hidden_size %d is not divisible by num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if !(c.LayerNormEps > 0 && c.LayerNormEps < 1) {
		bad("layer_norm_eps = %g must be in (0, 1)", c.LayerNormEps)
	}
	if c.HiddenAct != "gelu" {
		bad("hidden_act %q not supported: only \"gelu\" (the exact erf GELU of BERT and TinyBERT) is implemented", c.HiddenAct)
	}
	probOK := func(p float64) bool { return p >= 0 && p < 1 }
	if !probOK(c.HiddenDropoutProb) {
		bad("hidden_dropout_prob = %g must be in [0, 1)", c.HiddenDropoutProb)
	}
	if !probOK(c.AttentionProbsDropoutProb) {
		bad("attention_probs_dropout_prob = %g must be in [0, 1)", c.AttentionProbsDropoutProb)
	}
	if c.ClassifierDropout != nil && !probOK(*c.ClassifierDropout) {
		bad("classifier_dropout = %g must be in [0, 1)", *c.ClassifierDropout)
	}
	if !(c.InitializerRange >= 0 && !math.IsInf(c.InitializerRange, 0)) {
		bad("initializer_range = %g must be >= 0", c.InitializerRange)
	}
	if c.PadTokenID < 0 || c.PadTokenID >= c.VocabSize {
		bad("pad_token_id %d is not a token id (vocab_size %d)", c.PadTokenID, c.VocabSize)
	}
	for id := range c.ID2Label {
		if id < 0 || id >= c.NumLabels {
			bad("id2label has id %d outside [0, %d)", id, c.NumLabels)
			break
		}
	}
	if c.PositionEmbeddingType != "absolute" {
		bad("position_embedding_type %q not supported (only \"absolute\")", c.PositionEmbeddingType)
	}
	if c.ModelType != "bert" {
		bad("model_type %q is not \"bert\": its checkpoint layout differs", c.ModelType)
	}
	if len(probs) == 0 && float64(c.NumParameters(true)) > maxConfigParams {
		bad("%d parameters is beyond what this package builds", c.NumParameters(true))
	}
	if len(probs) > 0 {
		return fmt.Errorf("tinybert: invalid config: %s", strings.Join(probs, "; "))
	}
	return nil
}

// HeadDim is the width of one attention head.
func (c Config) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// ClassifierDropoutProb is the dropout before the classifier (HF's fallback rule).
func (c Config) ClassifierDropoutProb() float64 {
	if c.ClassifierDropout != nil {
		return *c.ClassifierDropout
	}
	return c.HiddenDropoutProb
}

// NumParameters counts the parameters of ExpectedKeys (embeddings, encoder, pooler and,
// withHead, the classifier); buffers such as position_ids are not parameters.
// It is only meaningful for a valid Config.
func (c Config) NumParameters(withHead bool) int64 {
	var n int64
	for _, k := range c.ExpectedKeys() {
		if k.Head && !withHead {
			continue
		}
		p := int64(1)
		for _, d := range k.Shape {
			p *= int64(d)
		}
		n += p
	}
	return n
}
