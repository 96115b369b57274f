package experiments

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/morphreuse/morphreuse-go/results"
)

// RecordsOnly must read what exists and neither load data nor train: the
// data directory here does not exist, so any attempt would fail the call.
func TestRunAllRecordsOnlyTrainsNothing(t *testing.T) {
	dir := t.TempDir()
	done := testConfig(t, Baseline, 1)
	rec, err := Run(done, syntheticImages(256, 128), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if err := results.Write(dir, rec); err != nil {
		t.Fatal(err)
	}
	missing := testConfig(t, LoRA, 1)
	missing.DataDir = filepath.Join(dir, "no-data-here")
	jobs := []Job{done, missing}

	var stdout bytes.Buffer
	recs, err := RunAll(jobs, dir, RunAllOptions{RecordsOnly: true, Stdout: &stdout})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Method != string(Baseline) {
		t.Fatalf("got %d records, want the baseline's only", len(recs))
	}
	if !strings.Contains(stdout.String(), missing.Name()+": no record") {
		t.Errorf("the missing run is not listed:\n%s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(dir, ".checkpoints")); err == nil {
		t.Error("records-only mode started a run (it made a checkpoint directory)")
	}

	loaded, err := LoadRecords(jobs, dir)
	if err != nil || len(loaded) != 1 || loaded[0].Seed != rec.Seed || loaded[0].Method != rec.Method {
		t.Fatalf("LoadRecords = %d records, %v; want the one written", len(loaded), err)
	}
	if err := os.WriteFile(filepath.Join(dir, done.FileName()), []byte("{broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRecords(jobs, dir); err == nil {
		t.Error("LoadRecords accepted a broken record")
	}
}
