package tinybert

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/klog/v2"
)

// Files of a Hugging Face model directory.
const (
	ConfigFile      = "config.json"
	VocabFile       = "vocab.txt"
	SafetensorsFile = "model.safetensors"
	TorchFile       = "pytorch_model.bin"
)

// KeySpec is one tensor the model needs, with its shape in HF layout (Linear weights
// are [out, in]).
type KeySpec struct {
	Name  string
	Shape []int
	// Head marks the task head (classifier.*), which a pretrained checkpoint lacks.
	Head bool
}

// ExpectedKeys lists, in a stable order, exactly the tensors a
// BertForSequenceClassification of this config reads from a checkpoint.
func (c Config) ExpectedKeys() []KeySpec {
	H, I := c.HiddenSize, c.IntermediateSize
	var keys []KeySpec
	add := func(name string, shape ...int) { keys = append(keys, KeySpec{Name: name, Shape: shape}) }
	linear := func(prefix string, out, in int) {
		add(prefix+".weight", out, in)
		add(prefix+".bias", out)
	}
	layerNorm := func(prefix string) {
		add(prefix+".weight", H)
		add(prefix+".bias", H)
	}
	add("bert.embeddings.word_embeddings.weight", c.VocabSize, H)
	add("bert.embeddings.position_embeddings.weight", c.MaxPositionEmbeddings, H)
	add("bert.embeddings.token_type_embeddings.weight", c.TypeVocabSize, H)
	layerNorm("bert.embeddings.LayerNorm")
	for l := 0; l < c.NumHiddenLayers; l++ {
		p := fmt.Sprintf("bert.encoder.layer.%d.", l)
		linear(p+"attention.self.query", H, H)
		linear(p+"attention.self.key", H, H)
		linear(p+"attention.self.value", H, H)
		linear(p+"attention.output.dense", H, H)
		layerNorm(p + "attention.output.LayerNorm")
		linear(p+"intermediate.dense", I, H)
		linear(p+"output.dense", H, I)
		layerNorm(p + "output.LayerNorm")
	}
	linear("bert.pooler.dense", H, H)
	keys = append(keys,
		KeySpec{Name: "classifier.weight", Shape: []int{c.NumLabels, H}, Head: true},
		KeySpec{Name: "classifier.bias", Shape: []int{c.NumLabels}, Head: true})
	return keys
}

// knownUnused are keys that real BERT/TinyBERT checkpoints carry and the model does not
// use: distillation projections, pre-training heads and the position_ids buffer.
func knownUnused(name string) bool {
	return strings.HasPrefix(name, "fit_denses.") || strings.HasPrefix(name, "cls.") ||
		name == "bert.embeddings.position_ids"
}

// NormalizeKeys applies the renames transformers applies on load: TF-era
// "LayerNorm.gamma"/"LayerNorm.beta" become ".weight"/".bias", and a checkpoint saved
// from a bare BertModel (keys "embeddings.…", "encoder.…", "pooler.…") gets the "bert."
// prefix. The input is not modified; tensors are shared.
func NormalizeKeys(sd StateDict) (StateDict, error) {
	addPrefix := true
	for name := range sd {
		if strings.HasPrefix(name, "bert.") {
			addPrefix = false
			break
		}
	}
	out := make(StateDict, len(sd))
	from := make(map[string]string, len(sd))
	for name, t := range sd {
		n := name
		if s, ok := strings.CutSuffix(n, "LayerNorm.gamma"); ok {
			n = s + "LayerNorm.weight"
		} else if s, ok := strings.CutSuffix(n, "LayerNorm.beta"); ok {
			n = s + "LayerNorm.bias"
		}
		if addPrefix && (strings.HasPrefix(n, "embeddings.") || strings.HasPrefix(n, "encoder.") || strings.HasPrefix(n, "pooler.")) {
			n = "bert." + n
		}
		if prev, dup := from[n]; dup {
			return nil, fmt.Errorf("checkpoint keys %q and %q both map to %q", prev, name, n)
		}
		from[n] = name
		out[n] = t
	}
	return out, nil
}

// KeyReport says how a checkpoint's keys relate to a config, once CheckKeys found every
// needed tensor.
type KeyReport struct {
	// Unused keys are in the checkpoint but not read by the model.
	Unused []string
	// InitHead is true when the checkpoint has no classifier.*: a pretrained backbone.
	// The caller must initialise the head, as transformers does (and warns about).
	InitHead bool
}

func (r *KeyReport) String() string {
	s := fmt.Sprintf("%d unused checkpoint keys", len(r.Unused))
	if r.InitHead {
		s += "; no classifier.* in the checkpoint: initialise the head"
	}
	return s
}

// maxKeyProblems bounds the error message when a checkpoint does not fit at all.
const maxKeyProblems = 20

// CheckKeys verifies that sd (after NormalizeKeys) holds every tensor the config needs,
// as float32 with the expected shape. The error lists each missing or mis-shaped key with
// both shapes. A checkpoint without classifier.* passes with InitHead set; unused keys
// are logged (klog V(1) for the known ones, a warning for the others).
func CheckKeys(c Config, sd StateDict) (*KeyReport, error) {
	var probs []string
	needed := map[string]bool{}
	var headMissing []string
	for _, k := range c.ExpectedKeys() {
		needed[k.Name] = true
		t, ok := sd[k.Name]
		switch {
		case !ok && k.Head:
			headMissing = append(headMissing, k.Name)
		case !ok:
			probs = append(probs, fmt.Sprintf("missing %s (model needs %v)", k.Name, k.Shape))
		case t.DType != Float32:
			probs = append(probs, fmt.Sprintf("%s: checkpoint has %s, model needs float32", k.Name, t.DType))
		case !slices.Equal(t.Shape, k.Shape):
			hint := ""
			if k.Head {
				hint = fmt.Sprintf(" (config has num_labels %d)", c.NumLabels)
			}
			probs = append(probs, fmt.Sprintf("%s: checkpoint has shape %v, model needs %v%s", k.Name, t.Shape, k.Shape, hint))
		}
	}
	report := &KeyReport{}
	switch len(headMissing) {
	case 0:
	case 2:
		report.InitHead = true
	default:
		probs = append(probs, fmt.Sprintf("the classifier head is incomplete: missing %v", headMissing))
	}
	if len(probs) > 0 {
		if len(probs) > maxKeyProblems {
			probs = append(probs[:maxKeyProblems], fmt.Sprintf("... and %d more", len(probs)-maxKeyProblems))
		}
		return nil, fmt.Errorf("tinybert: checkpoint does not fit the config (hidden %d, %d layers, %d heads, intermediate %d, vocab %d):\n  %s",
			c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize, c.VocabSize, strings.Join(probs, "\n  "))
	}
	var unexpected []string
	for _, name := range sd.Names() {
		if needed[name] {
			continue
		}
		report.Unused = append(report.Unused, name)
		if knownUnused(name) {
			klog.V(1).Infof("tinybert: ignoring checkpoint key %s %v", name, sd[name])
		} else {
			unexpected = append(unexpected, name)
		}
	}
	if len(unexpected) > 0 {
		klog.Warningf("tinybert: ignoring %d checkpoint keys the model does not use (a config mismatch?): %s",
			len(unexpected), strings.Join(unexpected[:min(len(unexpected), 5)], ", "))
	}
	if report.InitHead {
		klog.V(1).Infof("tinybert: checkpoint has no classifier.*: the classification head must be initialised")
	}
	return report, nil
}

// FindWeights returns the checkpoint file of a model directory. model.safetensors is
// preferred when both exist: it cannot carry code, and it is read without a pickle VM.
func FindWeights(dir string) (string, error) {
	for _, name := range []string{SafetensorsFile, TorchFile} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	for _, index := range []string{"model.safetensors.index.json", "pytorch_model.bin.index.json"} {
		if _, err := os.Stat(filepath.Join(dir, index)); err == nil {
			return "", fmt.Errorf("%s: sharded checkpoints (%s) are not supported", dir, index)
		}
	}
	return "", fmt.Errorf("%s: no %s or %s", dir, SafetensorsFile, TorchFile)
}

// ReadCheckpoint reads a .safetensors or PyTorch checkpoint file (by extension and
// content) and normalises its keys.
func ReadCheckpoint(path string) (StateDict, error) {
	var sd StateDict
	var err error
	if strings.HasSuffix(path, ".safetensors") {
		sd, err = ReadSafetensorsFile(path)
	} else {
		sd, err = ReadTorchFile(path)
	}
	if err != nil {
		return nil, err
	}
	return NormalizeKeys(sd)
}

// Pretrained is everything read from a model directory.
type Pretrained struct {
	Dir         string
	Config      Config
	Tokenizer   *Tokenizer
	WeightsFile string
	Weights     StateDict // normalised keys, checked against Config
	Keys        *KeyReport
}

// LoadPretrained reads config.json, vocab.txt and the weights of a Hugging Face model
// directory and checks that they fit together.
func LoadPretrained(dir string) (*Pretrained, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("tinybert: %q is not a model directory (want %s, %s and %s or %s)", dir, ConfigFile, VocabFile, TorchFile, SafetensorsFile)
	}
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, err
	}
	tok, err := LoadTokenizer(filepath.Join(dir, VocabFile))
	if err != nil {
		return nil, err
	}
	if tok.Vocab.Len() > cfg.VocabSize {
		return nil, fmt.Errorf("tinybert: %s has %d tokens but vocab_size is %d", filepath.Join(dir, VocabFile), tok.Vocab.Len(), cfg.VocabSize)
	}
	wf, err := FindWeights(dir)
	if err != nil {
		return nil, err
	}
	sd, err := ReadCheckpoint(wf)
	if err != nil {
		return nil, err
	}
	rep, err := CheckKeys(cfg, sd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", wf, err)
	}
	return &Pretrained{Dir: dir, Config: cfg, Tokenizer: tok, WeightsFile: wf, Weights: sd, Keys: rep}, nil
}
