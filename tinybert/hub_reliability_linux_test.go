package tinybert

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/morphreuse/morphreuse-go/internal/tmpfs"
)

// TestDownloadOntoAFullDisk: a hub download that runs out of disk space in
// the middle of the weights is an error naming the file and the cause,
// leaves no partial blob, keeps the files already downloaded, and completes
// (without fetching those again) once there is space. The cache is a 1 MiB
// tmpfs, which needs root with CAP_SYS_ADMIN; elsewhere the test is skipped.
func TestDownloadOntoAFullDisk(t *testing.T) {
	hub, opts := newFakeHub(t)
	tmpfs.Mount(t, opts.CacheDir, 1<<20)
	if n := len(hub.files[TorchFile]); n < 2<<20 {
		t.Fatalf("the weights fixture is %d bytes: it would fit on the 1 MiB disk", n)
	}

	_, err := DownloadSnapshot(context.Background(), opts)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "cannot download "+TorchFile) {
		t.Fatalf("error %v, want ENOSPC while downloading %s", err, TorchFile)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	var leftovers []string
	filepath.WalkDir(opts.CacheDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.Contains(d.Name(), ".incomplete") || strings.Contains(d.Name(), ".tmp-")) {
			leftovers = append(leftovers, p)
		}
		return nil
	})
	if len(leftovers) > 0 {
		t.Fatalf("partial files left: %v", leftovers)
	}
	snapshot := filepath.Join(opts.CacheDir, "models--org--model", "snapshots", testCommit)
	for _, f := range []string{ConfigFile, VocabFile} {
		if got, err := os.ReadFile(filepath.Join(snapshot, f)); err != nil || string(got) != string(hub.files[f]) {
			t.Fatalf("%s, downloaded before the disk filled, is not whole: %v", f, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(snapshot, TorchFile)); err == nil {
		t.Fatalf("%s is in the snapshot after a failed download", TorchFile)
	}

	if err := syscall.Mount("", opts.CacheDir, "", syscall.MS_REMOUNT|syscall.MS_NOSUID|syscall.MS_NODEV, "size=16777216"); err != nil {
		t.Fatalf("growing the test tmpfs: %v", err)
	}
	before := hub.requests.Load()
	dir, err := DownloadSnapshot(context.Background(), opts)
	if err != nil {
		t.Fatalf("with space again: %v", err)
	}
	if _, err := ReadTorchFile(filepath.Join(dir, TorchFile)); err != nil {
		t.Fatal(err)
	}
	// config.json and vocab.txt are asked for (their commit is checked) but not stored
	// again, model.safetensors is not there, the weights take a request and a redirect.
	if n := hub.requests.Load() - before; n > 5 {
		t.Errorf("%d requests to finish the download", n)
	}
}
