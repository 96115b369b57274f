package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// readOnlyDir returns a directory, filled by fill, that refuses new files.
// Permission bits do that for ordinary users; root ignores them, so as root
// it is a tmpfs remounted read-only, and the test is skipped where mounting
// is not permitted (it needs CAP_SYS_ADMIN).
func readOnlyDir(t *testing.T, fill func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		fill(dir)
		chmodTree(t, dir, 0o555)
		t.Cleanup(func() { chmodTree(t, dir, 0o755) })
		return dir
	}
	mountTmpfs(t, dir, 1<<20)
	fill(dir)
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remounting the test tmpfs read-only: %v", err)
	}
	return dir
}

// mountTmpfs mounts a tmpfs of size bytes on dir, or skips the test where
// mounting is not permitted.
func mountTmpfs(t *testing.T, dir string, size int) {
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

func chmodTree(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			os.Chmod(p, mode)
		}
		return nil
	})
}

// TestDownloadIntoARealFullDisk is TestDownloadDiskFullLosesNothing on a
// file system that runs out of space in the middle of the download.
func TestDownloadIntoARealFullDisk(t *testing.T) {
	const free = 4096
	body := make([]byte, 3*free) // incompressible, so that the size on disk is the size
	for i := range body {
		body[i] = byte(i*7919>>3 ^ i)
	}
	m, s := sums(body)
	srv := newFileServer(t, map[string][]byte{"/f.bin": body, "/g.bin": []byte("small and complete")})
	gm, gs := sums([]byte("small and complete"))
	src := map[string]remote{
		"x/f.bin": {path: "x/f.bin", md5: m, sha256: s, maxSize: 1 << 20, urls: []string{srv.URL + "/f.bin"}},
		"x/g.bin": {path: "x/g.bin", md5: gm, sha256: gs, maxSize: 1 << 20, urls: []string{srv.URL + "/g.bin"}},
	}
	root := t.TempDir()
	mountTmpfs(t, root, 1<<20)
	cfg := newConfig([]Option{withSources(src), WithProgress(nil)})
	if err := cfg.fetch(root, "x/g.bin"); err != nil {
		t.Fatal(err)
	}
	filler := fillDisk(t, root, free)

	err := cfg.fetch(root, "x/f.bin")
	wantWriteError(t, err, root, "x/f.bin", syscall.ENOSPC)
	if _, err := os.Stat(filepath.Join(root, "x", "f.bin")); err == nil {
		t.Fatal("a file under the final name after a full disk")
	}
	noPartials(t, root)
	if got, err := os.ReadFile(filepath.Join(root, "x", "g.bin")); err != nil || string(got) != "small and complete" {
		t.Fatalf("the file already there changed: %q %v", got, err)
	}

	os.Remove(filler)
	if err := cfg.fetch(root, "x/f.bin"); err != nil {
		t.Fatalf("with space again: %v", err)
	}
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
		if err != nil {
			if pe, ok := err.(*os.PathError); !ok || pe.Err != syscall.ENOSPC {
				t.Fatal(err)
			}
			break
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
