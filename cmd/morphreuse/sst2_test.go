package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/morphreuse/morphreuse-go/results"
	"github.com/morphreuse/morphreuse-go/tinybert"
)

// fixtureBackbone is the bert-tiny test fixture, as CI passes it from the repository root.
const fixtureBackbone = "../../tinybert/testdata/bert-tiny"

// sst2Data lays out an SST-2 directory (train, dev, labelled test) from the first 256
// training sentences committed with tinybert.
func sst2Data(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../tinybert/testdata/sst2_train_256.tsv")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "SST-2"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, split := range []string{"train", "dev", "test"} {
		if err := os.WriteFile(filepath.Join(dir, "SST-2", split+".tsv"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunSST2OnTheFixture(t *testing.T) {
	data, out := sst2Data(t), t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "--dataset", "sst2", "--method", "lora", "--backbone", fixtureBackbone,
		"--epochs", "1", "--limit-train", "96", "--limit-test", "32", "--cache", "--buckets", "16,32", "--data", data, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	rec, err := results.Load(filepath.Join(out, "sst2_lora-fixture+cached+bucketed_seed0.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := results.Verify(rec); err != nil {
		t.Fatal(err)
	}
	if rec.Backbone != tinybert.FixtureBackbone || rec.Dataset != "sst2" || rec.FinalDevAccuracy == nil || rec.FinalTestAccuracy == nil ||
		rec.Epochs[0].DevAccuracy == nil || rec.TrainableParams != 7440 {
		t.Fatalf("unexpected record %+v", rec)
	}
	if !strings.Contains(stdout, "[bert-tiny-fixture]") {
		t.Errorf("output does not name the fixture backbone: %q", stdout)
	}
	if _, err := os.Stat(filepath.Join(out, ".checkpoints")); err == nil {
		if entries, _ := os.ReadDir(filepath.Join(out, ".checkpoints")); len(entries) > 0 {
			t.Errorf("checkpoints left after a complete run: %v", entries)
		}
	}
}

func TestSST2UsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--dataset", "sst2", "--method", "morph-frozen", "--backbone", fixtureBackbone},                 // image method
		{"run", "--dataset", "sst2", "--method", "lora", "--backbone", fixtureBackbone, "--buckets", "8,x"},     // bad lengths
		{"run", "--dataset", "sst2", "--method", "lora", "--backbone", fixtureBackbone, "--buckets", "8,16,32"}, // 4 lengths with 64
		{"run", "--dataset", "mnist", "--method", "morph"},                                                      // SST-2 method
		{"params", "--dataset", "sst2", "--method", "morph-trained"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != 2 || stderr == "" {
			t.Errorf("%q: exit %d (want 2) with message %q", args, code, stderr)
		}
	}
}

func TestSST2ParamsLine(t *testing.T) {
	for method, want := range map[string]string{
		"baseline": "trainable params: 2,284,994 ||",
		"morph":    "trainable params: 848,607 ||",
		"lora":     "trainable params: 90,832 ||",
	} {
		code, stdout, stderr := runCLI(t, "params", "--dataset", "sst2", "--method", method)
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("%s: exit %d, output %q %q, want %q", method, code, stdout, stderr, want)
		}
	}
}

func TestReproduceSST2WritesTheReport(t *testing.T) {
	data, out := sst2Data(t), t.TempDir()
	report, readme := filepath.Join(out, "report.html"), filepath.Join(out, "README.md")
	code, stdout, stderr := runCLI(t, "reproduce", "--datasets", "sst2", "--methods", "morph,morph-frozen", "--seeds", "0",
		"--backbone", fixtureBackbone, "--epochs", "1", "--limit-train", "64", "--limit-test", "32", "--cache",
		"--data", data, "--out", filepath.Join(out, "runs"), "--report", report, "--readme", readme)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	records, err := results.LoadDir(filepath.Join(out, "runs"))
	if err != nil || len(records) != 1 || records[0].Method != "morph" || records[0].Variant != "fixture+cached" {
		t.Fatalf("records %v, %v: want one sst2 morph run", records, err)
	}
	html, err := os.ReadFile(report)
	if err != nil || !strings.Contains(string(html), "bert-tiny-fixture") {
		t.Fatalf("report does not name the fixture backbone (%v)", err)
	}
}

// TestSST2WithoutBackboneFailsFast: offline, with no --backbone and nothing
// in the Hugging Face cache, SST-2 fails at once, saying how to supply one,
// and reproduce still reports it as not run.
func TestSST2WithoutBackboneFailsFast(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:9") // nothing listens: refused at once
	start := time.Now()
	code, _, stderr := runCLI(t, "run", "--dataset", "sst2", "--method", "lora", "--out", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "--backbone") {
		t.Fatalf("exit %d (want 1), stderr %q: want a message naming --backbone", code, stderr)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("failing took %s", took)
	}
	code, _, stderr = runCLI(t, "reproduce", "--datasets", "sst2", "--out", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "sst2 not run") {
		t.Fatalf("reproduce: exit %d, stderr %q", code, stderr)
	}
}
