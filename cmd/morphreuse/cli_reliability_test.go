package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/morphreuse/morphreuse-go/results"
)

// errorLines returns the lines of stderr that report an error of command cmd
// (other lines are progress and the backend choice).
func errorLines(stderr, cmd string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "morphreuse "+cmd+": ") {
			out = append(out, l)
		}
	}
	return out
}

// wantOneErrorLine fails unless the command exited with code 1 and reported
// exactly one error line holding every fragment.
func wantOneErrorLine(t *testing.T, cmd string, code int, stderr string, fragments ...string) {
	t.Helper()
	lines := errorLines(stderr, cmd)
	if code != 1 || len(lines) != 1 {
		t.Fatalf("exit %d (want 1), error lines %q (want one)\nstderr: %s", code, lines, stderr)
	}
	for _, f := range fragments {
		if !strings.Contains(lines[0], f) {
			t.Errorf("error line %q does not mention %q", lines[0], f)
		}
	}
}

// TestUnwritableDataDirIsOneClearLine: a data directory that cannot be
// created (its parent is a regular file, which stops root too) fails the run
// at once, before any download, with one line naming it and the fix.
func TestUnwritableDataDirIsOneClearLine(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, out := filepath.Join(plain, "data"), t.TempDir()
	start := time.Now()
	code, _, stderr := runCLI(t, "run", "--dataset", "mnist", "--method", "lora", "--quick", "--data", data, "--out", out)
	wantOneErrorLine(t, "run", code, stderr, "data directory "+data, "not a directory", "to fix", "MORPHREUSE_DATA")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v: the directory should be refused before any transfer", d)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("records directory holds %v after a run that could not start", entries)
	}
}

// TestUnwritableRecordsDirIsOneClearLine: likewise for --out.
func TestUnwritableRecordsDirIsOneClearLine(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "run", "--dataset", "mnist", "--method", "lora", "--quick", "--data", syntheticMNIST(t), "--out", filepath.Join(plain, "runs"))
	wantOneErrorLine(t, "run", code, stderr, plain, "not a directory")
}

// minimalRecord is a complete, valid record of one run.
func minimalRecord(method string, seed int, acc float64) *results.Record {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return &results.Record{
		FormatVersion: results.FormatVersion, Status: results.StatusComplete,
		Dataset: "mnist", Method: method, Seed: seed,
		Backend: results.Backend{Name: "simplego"}, Config: map[string]any{"epochs": 1.0},
		Epochs:            []results.Epoch{{Epoch: 1, TrainLoss: 0.5, TestAccuracy: results.Float(acc), Seconds: 1}},
		FinalTestAccuracy: results.Float(acc), TrainableParams: 10, TotalParams: 20,
		Commit: "abc1234", StartedAt: start, FinishedAt: start.Add(time.Minute), WallSeconds: 60,
	}
}

// TestBrokenRecordFailsTheReport: a truncated or newer record is one error
// line naming the file, and no report is written from the others.
func TestBrokenRecordFailsTheReport(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"truncated", `{"format_version": 1, "status": "comp`, "truncated JSON"},
		{"newer", `{"format_version": 99}`, "format_version 99 is newer than this program reads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			runs := filepath.Join(dir, "runs")
			if err := results.Write(runs, minimalRecord("baseline", 0, 0.9)); err != nil {
				t.Fatal(err)
			}
			bad := filepath.Join(runs, "mnist_lora_seed0.json")
			if err := os.WriteFile(bad, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			report := filepath.Join(dir, "report.html")
			code, _, stderr := runCLI(t, "report", "--in", runs, "--out", report, "--readme", "")
			wantOneErrorLine(t, "report", code, stderr, bad, tc.want)
			if _, err := os.Stat(report); err == nil {
				t.Error("a report was written without the broken record")
			}
		})
	}
}
