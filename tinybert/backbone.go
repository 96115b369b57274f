package tinybert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FixtureBackbone names the bert-tiny golden fixture (testdata/bert-tiny: a random
// 4-layer, hidden-32 BERT) in run records. A run on it is never a TinyBERT result.
const FixtureBackbone = "bert-tiny-fixture"

// fixtureWeightsSHA256 are the sha256 of the fixture's checkpoints (its manifest.json).
var fixtureWeightsSHA256 = map[string]bool{
	"3bc54ba0db19bcb12296b2d22c8ac7392df82c5a665fef4288390ca1b272f17a": true, // model.safetensors
	"f12e7bbfe82868779134387ffed1bb3fba07d01b5f50ed1961fae9912fc93fad": true, // pytorch_model.bin
}

// Backbone says which pretrained model a directory holds, for run records.
type Backbone struct {
	// Name is FixtureBackbone for the golden fixture, TinyBERTGeneral4L312DRepo for a
	// checkpoint of TinyBERT_General_4L_312D's configuration, otherwise
	// "custom BERT <layers>L-<hidden>H (<directory name>)".
	Name string
	// WeightsSHA256 is the sha256 of the weights file read.
	WeightsSHA256 string
}

// IdentifyBackbone names the backbone p was loaded from. The fixture is recognised by
// the checksum of its weights (any copy of it, wherever it lives); TinyBERT by its
// configuration (4 layers, hidden 312, 12 heads, intermediate 1200, vocabulary 30522):
// its real weights' checksum is not known here, so a random checkpoint of that shape
// would be named TinyBERT too.
func IdentifyBackbone(p *Pretrained) (Backbone, error) {
	return identify(p.Dir, p.Config, p.WeightsFile)
}

// IdentifyDir names the backbone in a model directory without reading its
// weights into memory (only hashing them): what a run's record and file name
// need before the data are loaded.
func IdentifyDir(dir string) (Backbone, error) {
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return Backbone{}, err
	}
	weights, err := FindWeights(dir)
	if err != nil {
		return Backbone{}, err
	}
	return identify(dir, cfg, weights)
}

func identify(dir string, c Config, weightsFile string) (Backbone, error) {
	f, err := os.Open(weightsFile)
	if err != nil {
		return Backbone{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Backbone{}, fmt.Errorf("tinybert: hashing %s: %w", weightsFile, err)
	}
	b := Backbone{WeightsSHA256: hex.EncodeToString(h.Sum(nil))}
	t := TinyBERTGeneral4L312D()
	switch {
	case fixtureWeightsSHA256[b.WeightsSHA256]:
		b.Name = FixtureBackbone
	case c.NumHiddenLayers == t.NumHiddenLayers && c.HiddenSize == t.HiddenSize && c.NumAttentionHeads == t.NumAttentionHeads &&
		c.IntermediateSize == t.IntermediateSize && c.VocabSize == t.VocabSize:
		b.Name = TinyBERTGeneral4L312DRepo
	default:
		dir, _ := filepath.Abs(dir)
		b.Name = fmt.Sprintf("custom BERT %dL-%dH (%s)", c.NumHiddenLayers, c.HiddenSize, filepath.Base(dir))
	}
	return b, nil
}
