package tinybert

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestFixtureConfig(t *testing.T) {
	c, err := LoadConfig(filepath.Join(fixtureDir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if c.VocabSize != 30522 || c.HiddenSize != 32 || c.NumHiddenLayers != 4 || c.NumAttentionHeads != 4 ||
		c.IntermediateSize != 64 || c.MaxPositionEmbeddings != 64 || c.TypeVocabSize != 2 || c.LayerNormEps != 1e-12 ||
		c.HiddenAct != "gelu" || c.NumLabels != 2 || c.ID2Label[1] != "positive" || c.InitializerRange != 0.2 ||
		c.HeadDim() != 8 || c.ClassifierDropoutProb() != 0.1 {
		t.Errorf("unexpected config %+v", c)
	}
}

// A config.json in the style of the TinyBERT release (pre-transformers keys, no
// layer_norm_eps, no model_type, extra fields): defaults fill the gaps.
const tinyBERTStyleConfig = `{
  "attention_probs_dropout_prob": 0.1,
  "cell": {},
  "emb_size": 312,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "hidden_size": 312,
  "initializer_range": 0.02,
  "intermediate_size": 1200,
  "max_position_embeddings": 512,
  "num_attention_heads": 12,
  "num_hidden_layers": 4,
  "pre_trained": "",
  "structure": [],
  "type_vocab_size": 2,
  "vocab_size": 30522
}`

func TestTinyBERTConfig(t *testing.T) {
	c, err := ParseConfig([]byte(tinyBERTStyleConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := TinyBERTGeneral4L312D()
	if c.VocabSize != want.VocabSize || c.HiddenSize != want.HiddenSize || c.NumHiddenLayers != want.NumHiddenLayers ||
		c.NumAttentionHeads != want.NumAttentionHeads || c.IntermediateSize != want.IntermediateSize ||
		c.MaxPositionEmbeddings != want.MaxPositionEmbeddings || c.TypeVocabSize != want.TypeVocabSize ||
		c.LayerNormEps != want.LayerNormEps || c.NumLabels != want.NumLabels || c.ModelType != "bert" {
		t.Errorf("parsed %+v\nwant %+v", c, want)
	}
	if want.HeadDim() != 26 || want.LayerNormEps != 1e-12 {
		t.Errorf("TinyBERT head dim %d eps %g", want.HeadDim(), want.LayerNormEps)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, c := range map[string]struct{ json, want string }{
		"heads":        {`{"hidden_size": 30, "num_attention_heads": 4}`, "hidden_size 30 is not divisible by num_attention_heads 4"},
		"negative":     {`{"hidden_size": -32}`, "hidden_size = -32 must be in [1,"},
		"zero layers":  {`{"num_hidden_layers": 0}`, "num_hidden_layers = 0"},
		"tanh gelu":    {`{"hidden_act": "gelu_new"}`, `hidden_act "gelu_new" not supported: only "gelu" (the exact erf GELU`},
		"relu":         {`{"hidden_act": "relu"}`, `hidden_act "relu" not supported`},
		"eps":          {`{"layer_norm_eps": 0}`, "layer_norm_eps"},
		"dropout":      {`{"hidden_dropout_prob": 1.5}`, "hidden_dropout_prob"},
		"labels":       {`{"num_labels": 3, "id2label": {"0": "a", "1": "b"}}`, "num_labels 3 but id2label has 2"},
		"label ids":    {`{"id2label": {"0": "a", "5": "b"}}`, "id2label has id 5"},
		"bad label id": {`{"id2label": {"x": "a"}}`, "config.json"},
		"string size":  {`{"hidden_size": "312"}`, "hidden_size"},
		"float size":   {`{"hidden_size": 312.5}`, "hidden_size"},
		"relative pos": {`{"position_embedding_type": "relative_key"}`, "position_embedding_type"},
		"roberta":      {`{"model_type": "roberta"}`, `model_type "roberta"`},
		"huge":         {`{"vocab_size": 16000000, "hidden_size": 16000000, "num_attention_heads": 1}`, "parameters is beyond"},
		"pad id":       {`{"pad_token_id": 40000}`, "pad_token_id"},
		"not object":   {`null`, "not a JSON object"},
		"trailing":     {`{} {}`, "trailing"},
		"syntax":       {`{"hidden_size": }`, "config.json"},
		"empty":        {``, "not a JSON object"},
	} {
		_, err := ParseConfig([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, c.want)
		}
	}
	// Several problems come back together in one error.
	_, err := ParseConfig([]byte(`{"hidden_size": 30, "num_attention_heads": 4, "hidden_act": "silu", "type_vocab_size": -1}`))
	if err == nil || strings.Count(err.Error(), ";") != 2 {
		t.Errorf("want three problems in one error, got %v", err)
	}
}

func TestVocabErrors(t *testing.T) {
	specials := "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
	for name, c := range map[string]struct{ vocab, want string }{
		"empty":       {"", "empty"},
		"missing":     {"[PAD]\n[UNK]\n[CLS]\nhello\n", "no [SEP], [MASK] token"},
		"dup special": {specials + "a\n[CLS]\n", "special token [CLS] on lines 3 and 7"},
		"bad utf8":    {specials + "caf\xe9\n", "line 6 is not valid UTF-8"},
		"bom":         {"\ufeff" + specials, "byte-order mark"},
		"lowercase":   {"[pad]\n[unk]\n[cls]\n[sep]\n[mask]\n", "no [PAD], [UNK], [CLS], [SEP], [MASK]"},
	} {
		_, err := ParseVocab([]byte(c.vocab))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, c.want)
		}
	}
}

func TestVocabParsing(t *testing.T) {
	// CRLF and CR line ends (Python universal newlines), a repeated ordinary token keeping
	// its last id, no final newline.
	v, err := ParseVocab([]byte("[PAD]\r\n[UNK]\r[CLS]\n[SEP]\nhi\n[MASK]\nhi\n##s"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != 8 || v.PadID != 0 || v.UnkID != 1 || v.ClsID != 2 || v.SepID != 3 || v.MaskID != 5 {
		t.Errorf("ids: len %d %+v", v.Len(), v)
	}
	if id, ok := v.ID("hi"); !ok || id != 6 {
		t.Errorf("hi -> %d, want the last id 6", id)
	}
	if v.Token(4) != "hi" || v.Token(7) != "##s" || v.Token(8) != "" || v.Token(-1) != "" {
		t.Error("Token lookup")
	}
	tok := NewTokenizer(v)
	if got := tok.Tokenize("HIs hiss"); strings.Join(got, " ") != "hi ##s hi ##s ##s" {
		t.Errorf("tokenize with a tiny vocab: %q", got)
	}
	if got := tok.Tokenize("x"); len(got) != 1 || got[0] != "[UNK]" {
		t.Errorf("unknown word: %q", got)
	}
}
