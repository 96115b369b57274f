package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/morphreuse/morphreuse-go/internal/tmpfs"

	"github.com/morphreuse/morphreuse-go/results"
)

// TestReportOnAFullDisk: "morphreuse report" onto a file system that fills
// up in the middle of the page exits 1 with one line naming the file, keeps
// the previous report and leaves no temporary file. It needs a tmpfs (root
// with CAP_SYS_ADMIN) and is skipped elsewhere; results'
// TestDiskFullMidFileLosesNothing covers the same with a simulated disk.
func TestReportOnAFullDisk(t *testing.T) {
	disk := t.TempDir()
	tmpfs.Mount(t, disk, 1<<20)
	runs := filepath.Join(t.TempDir(), "runs")
	if err := results.Write(runs, minimalRecord("baseline", 0, 0.9)); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(disk, "report.html")
	if code, _, stderr := runCLI(t, "report", "--in", runs, "--out", report, "--readme", ""); code != 0 {
		t.Fatalf("first report: exit %d: %s", code, stderr)
	}
	before, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}

	// Fill the disk, leaving one page: less than the report needs.
	filler := filepath.Join(disk, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for {
		k, err := f.Write(make([]byte, 4096))
		n += int64(k)
		if err != nil {
			break
		}
	}
	if err := errors.Join(f.Truncate(n-4096), f.Close()); err != nil {
		t.Fatal(err)
	}
	if len(before) <= 4096 {
		t.Fatalf("the report is %d bytes: it would fit in one page", len(before))
	}
	for seed := 1; seed <= 3; seed++ {
		if err := results.Write(runs, minimalRecord("lora", seed, 0.8)); err != nil {
			t.Fatal(err)
		}
	}
	code, _, stderr := runCLI(t, "report", "--in", runs, "--out", report, "--readme", "")
	wantOneErrorLine(t, "report", code, stderr, report, "no space left on device")
	if after, err := os.ReadFile(report); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the previous report changed (%v)", err)
	}
	entries, _ := os.ReadDir(disk)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "filler report.html" {
		t.Fatalf("the disk holds %v", names)
	}
}
