package experiments

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/morphreuse/morphreuse-go/results"
)

// TestSaveCheckpointOntoAFullDisk: a checkpoint that does not fit is an
// error naming the file and the cause; the previous checkpoint is kept
// whole and no temporary directory is left. Needs a tmpfs (root with
// CAP_SYS_ADMIN); skipped elsewhere.
func TestSaveCheckpointOntoAFullDisk(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=1048576,mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v; needs root with CAP_SYS_ADMIN)", err)
	}
	t.Cleanup(func() { syscall.Unmount(root, 0) })
	first := checkpointState{Run: "r", Epochs: []results.Epoch{{Epoch: 1}}}
	if err := saveCheckpoint(root, smallContext(1000, 1), first); err != nil {
		t.Fatal(err)
	}
	// Leave 8 KiB: less than the 40 KB of the next checkpoint's variables.
	f, _ := os.Create(filepath.Join(root, "filler"))
	var n int64
	for {
		k, err := f.Write(make([]byte, 4096))
		n += int64(k)
		if err != nil {
			break
		}
	}
	f.Truncate(n - 8192)
	f.Close()
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
