package results

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/morphreuse/morphreuse-go/internal/tmpfs"
)

// mountTinyTmpfs is a fresh directory with a tmpfs of size bytes on it; the
// test is skipped where mounting is not permitted (TestDiskFullMidFileLosesNothing
// covers the same with a simulated full disk).
func mountTinyTmpfs(t *testing.T, size int) string {
	dir := t.TempDir()
	tmpfs.Mount(t, dir, size)
	return dir
}

// TestRealFullDiskLosesNothing is TestDiskFullMidFileLosesNothing on a real
// file system that runs out of space in the middle of the new file.
func TestRealFullDiskLosesNothing(t *testing.T) {
	const free = 4096
	for _, w := range atomicWriters() {
		t.Run(w.name, func(t *testing.T) {
			dir := mountTinyTmpfs(t, 1<<20)
			final := filepath.Join(dir, w.file)
			if err := w.write(dir, false); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(final)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(w.render(true)); n <= free {
				t.Fatalf("the new version is %d bytes: it would fit in the %d bytes left", n, free)
			}
			filler := tmpfs.Fill(t, dir, free)

			err = w.write(dir, true)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("error %v, want ENOSPC", err)
			}
			if !strings.Contains(err.Error(), final) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line naming %s", err, final)
			}
			if after, err := os.ReadFile(final); err != nil || !bytes.Equal(before, after) {
				t.Fatalf("the previous complete file changed (err %v)", err)
			}
			if names := dirNames(t, dir); len(names) != 2 {
				t.Fatalf("directory holds %v, want %s and the filler", names, w.file)
			}

			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			if err := w.write(dir, true); err != nil {
				t.Fatalf("with space again: %v", err)
			}
			if got, _ := os.ReadFile(final); !bytes.Equal(got, w.render(true)) {
				t.Fatal("the new version is not what was rendered")
			}
		})
	}
}
