package experiments

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/morphreuse/morphreuse-go/internal/tmpfs"

	"github.com/morphreuse/morphreuse-go/results"
)

// TestSaveCheckpointOntoAFullDisk: a checkpoint that does not fit is an
// error naming the file and the cause; the previous checkpoint is kept
// whole and no temporary directory is left. Needs a tmpfs (root with
// CAP_SYS_ADMIN); skipped elsewhere.
func TestSaveCheckpointOntoAFullDisk(t *testing.T) {
	root := t.TempDir()
	tmpfs.Mount(t, root, 1<<20)
	first := checkpointState{Run: "r", Epochs: []results.Epoch{{Epoch: 1}}}
	if err := saveCheckpoint(root, smallContext(1000, 1), first); err != nil {
		t.Fatal(err)
	}
	// Leave 8 KiB: less than the 40 KB of the next checkpoint's variables.
	tmpfs.Fill(t, root, 8192)
	second := checkpointState{Run: "r", Epochs: []results.Epoch{{Epoch: 1}, {Epoch: 2}}}
	err := saveCheckpoint(root, smallContext(10000, 2), second)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), variablesFile) {
		t.Fatalf("error %v, want ENOSPC naming %s", err, variablesFile)
	}
	entries, _ := os.ReadDir(root)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "epoch-0001 filler" {
		t.Fatalf("checkpoint directory holds %v", names)
	}
	c, err := loadCheckpoint(root)
	if err != nil || len(c.state.Epochs) != 1 {
		t.Fatalf("the previous checkpoint does not load: %v", err)
	}
}
