// Package tmpfs gives reliability tests a real disk that fills up: a small
// tmpfs mounted for one test. Mounting needs root with CAP_SYS_ADMIN; where it
// is not permitted the test is skipped (each such test has a simulated-disk
// twin that always runs).
package tmpfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes on dir (typically t.TempDir()) and
// unmounts it when the test ends, or skips the test where mounting is not
// permitted.
func Mount(t testing.TB, dir string, size int) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v; needs root with CAP_SYS_ADMIN)", err)
	}
	// Cleanups run last-in first-out: this one before TempDir's removal.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting the test tmpfs %s: %v", dir, err)
		}
	})
}

// Fill fills the file system of dir with a file, then frees free bytes of it
// (a multiple of the page size), checks that exactly that much is free, and
// returns the file's path: removing it gives the space back.
func Fill(t testing.TB, dir string, free int64) string {
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
