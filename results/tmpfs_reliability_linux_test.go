package results

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mountTinyTmpfs mounts a tmpfs of size bytes on a fresh directory, or skips
// the test where mounting is not permitted (it needs root with CAP_SYS_ADMIN).
func mountTinyTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v; needs root with CAP_SYS_ADMIN): TestDiskFullMidFileLosesNothing covers the same with a simulated full disk", err)
	}
	// Cleanups run last-in first-out: this one before TempDir's removal.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting the test tmpfs %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk fills the file system of dir with a file, then frees free bytes
// (a multiple of the page size) of it, and returns the file's path.
func fillDisk(t *testing.T, dir string, free int64) string {
	t.Helper()
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	var n int64
	for {
		k, err := f.Write(chunk)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(n - free); err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if got := int64(st.Bavail) * st.Bsize; got != free {
		t.Fatalf("%d bytes free after filling, want %d", got, free)
	}
	return filler
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
			filler := fillDisk(t, dir, free)

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
