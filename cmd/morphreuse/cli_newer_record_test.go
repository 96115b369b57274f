package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/morphreuse/morphreuse-go/results"
)

// TestNewerRecordStopsTheRunBeforeTraining: a record of a newer format where
// the run would write is an error before any training (results.Write would
// refuse it after the run), and the record is kept.
func TestNewerRecordStopsTheRunBeforeTraining(t *testing.T) {
	out := t.TempDir()
	path := filepath.Join(out, results.FileName("mnist", "lora", "", 0))
	newer := []byte(`{"format_version": 99}`)
	if err := os.WriteFile(path, newer, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "run", "--dataset", "mnist", "--method", "lora", "--epochs", "1", "--data", syntheticMNIST(t), "--out", out)
	wantOneErrorLine(t, "run", code, stderr, path, "format_version 99 is newer", "not running")
	if strings.Contains(stderr, "epoch 1") {
		t.Errorf("the run trained before refusing:\n%s", stderr)
	}
	if got, _ := os.ReadFile(path); string(got) != string(newer) {
		t.Error("the newer record was replaced")
	}
}
