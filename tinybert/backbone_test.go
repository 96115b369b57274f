package tinybert

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIdentifyBackbone: the fixture is recognised wherever it is copied, by its weights'
// checksum; a fixture-shaped checkpoint with other weights is not the fixture, and
// neither is ever named TinyBERT; TinyBERT's configuration is.
func TestIdentifyBackbone(t *testing.T) {
	_, p := fixture(t)
	b, err := IdentifyBackbone(p)
	if err != nil || b.Name != FixtureBackbone || b.WeightsSHA256 != "3bc54ba0db19bcb12296b2d22c8ac7392df82c5a665fef4288390ca1b272f17a" {
		t.Fatalf("fixture: %+v, %v", b, err)
	}

	weights, err := os.ReadFile(p.WeightsFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "my-bert")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	weights[len(weights)-1] ^= 1 // the last byte of the last tensor's data
	if err := os.WriteFile(filepath.Join(dir, SafetensorsFile), weights, 0o644); err != nil {
		t.Fatal(err)
	}
	other := *p
	other.Dir, other.WeightsFile = dir, filepath.Join(dir, SafetensorsFile)
	b, err = IdentifyBackbone(&other)
	if err != nil || b.Name != "custom BERT 4L-32H (my-bert)" || strings.Contains(b.Name, "TinyBERT") {
		t.Errorf("modified fixture: %+v, %v", b, err)
	}

	other.Config = TinyBERTGeneral4L312D()
	if b, err = IdentifyBackbone(&other); err != nil || b.Name != TinyBERTGeneral4L312DRepo {
		t.Errorf("TinyBERT configuration: %+v, %v", b, err)
	}
}
