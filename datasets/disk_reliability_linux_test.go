package datasets

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/morphreuse/morphreuse-go/internal/tmpfs"
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
	tmpfs.Mount(t, dir, 1<<20)
	fill(dir)
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remounting the test tmpfs read-only: %v", err)
	}
	return dir
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
	tmpfs.Mount(t, root, 1<<20)
	cfg := newConfig([]Option{withSources(src), WithProgress(nil)})
	if err := cfg.fetch(root, "x/g.bin"); err != nil {
		t.Fatal(err)
	}
	filler := tmpfs.Fill(t, root, free)

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
