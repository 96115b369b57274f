package datasets

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// diskFullAfter makes every temporary file of a download or an unpack take
// limit bytes in all, then fail with ENOSPC as a full disk does (an
// *os.PathError naming the file). It returns how many files hit the limit.
func diskFullAfter(t *testing.T, limit int64) *int {
	t.Helper()
	hits := 0
	partialWriter = func(f *os.File) io.Writer {
		var written int64
		return writerFunc(func(p []byte) (int, error) {
			n := int(min(int64(len(p)), limit-written))
			if _, err := f.Write(p[:n]); err != nil {
				t.Fatalf("writing the first %d bytes: %v", n, err)
			}
			written += int64(n)
			if n < len(p) {
				hits++
				return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
			}
			return n, nil
		})
	}
	t.Cleanup(restoreDisk)
	return &hits
}

func restoreDisk() { partialWriter = func(f *os.File) io.Writer { return f } }

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// wantWriteError checks err is one line, a *WriteError wrapping want, naming
// the data directory, the file and the fix.
func wantWriteError(t *testing.T, err error, root, file string, want error) {
	t.Helper()
	var we *WriteError
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T), want a *WriteError", err, err)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v does not wrap %v", err, want)
	}
	if we.Dir != root || we.File != file {
		t.Fatalf("WriteError{File: %q, Dir: %q}, want {%q, %q}", we.File, we.Dir, file, root)
	}
	fix := "make " + root + " a writable directory"
	if errors.Is(want, syscall.ENOSPC) {
		fix = "free disk space for " + root
	}
	wantErr(t, err, "cannot write "+file+" into the data directory "+root, "to fix: "+fix, EnvDataDir)
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error is not one line: %q", err)
	}
}

// TestDownloadDiskFullLosesNothing: a download that fills the disk half way
// is one clear error; it leaves no partial file, keeps the files already
// there, does not try the other sources (they would fail the same way), and
// succeeds once there is space again.
func TestDownloadDiskFullLosesNothing(t *testing.T) {
	files := smallMNIST()
	a := newFileServer(t, servedPaths(files, "/mnist/"))
	b := newFileServer(t, servedPaths(files, "/mnist/"))
	src := mnistSources(t, files, a.URL, b.URL)
	root := filepath.Join(t.TempDir(), "data")
	opts := []Option{withSources(src), WithProgress(nil)}

	// The labels are already there, complete.
	labels := filepath.Join(root, "mnist", "train-labels-idx1-ubyte.gz")
	writeFile(t, labels, files["train-labels-idx1-ubyte.gz"])

	const rel = "mnist/train-images-idx3-ubyte.gz"
	size := int64(len(files["train-images-idx3-ubyte.gz"]))
	hits := diskFullAfter(t, size/2)
	_, err := Load(root, "mnist", Train, opts...)
	wantWriteError(t, err, root, rel, syscall.ENOSPC)
	wantErr(t, err, "no space left on device", "after ")
	if *hits != 1 {
		t.Fatalf("%d writes hit the full disk, want 1", *hits)
	}
	if a.hits["/"+rel] != 1 || b.hits["/"+rel] != 0 {
		t.Fatalf("sources tried: %d and %d times, want once and never", a.hits["/"+rel], b.hits["/"+rel])
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file under the final name after a full disk: %v", err)
	}
	noPartials(t, root)
	if got, err := os.ReadFile(labels); err != nil || !bytes.Equal(got, files["train-labels-idx1-ubyte.gz"]) {
		t.Fatalf("the file already there changed (%v)", err)
	}

	restoreDisk()
	im, err := Load(root, "mnist", Train, opts...)
	if err != nil || im.N != 4 {
		t.Fatalf("with space again: %v", err)
	}
	noPartials(t, root)
}

// TestUnpackDiskFullLosesNothing: the disk filling up while the CIFAR-10
// archive is unpacked is a *WriteError (not a complaint about the archive),
// the archive is kept, members already unpacked stay whole, and unpacking
// again completes the set.
func TestUnpackDiskFullLosesNothing(t *testing.T) {
	set := cifarSet(2)
	archive := cifarTarGz(t, set)
	srv := newFileServer(t, map[string][]byte{"/cifar-10-binary.tar.gz": archive})
	m, _ := sums(archive)
	src := map[string]remote{cifarArchive: {path: cifarArchive, md5: m, maxSize: 1 << 20, urls: []string{srv.URL + "/cifar-10-binary.tar.gz"}}}
	root := t.TempDir()
	opts := []Option{withSources(src), WithProgress(nil)}
	if _, err := Load(root, "cifar10", Test, append(opts, noDownload)...); err == nil {
		t.Fatal("loaded from an empty directory")
	}

	// The archive downloads whole; its third batch file does not fit.
	partialWriter = func(f *os.File) io.Writer {
		if !strings.Contains(f.Name(), "data_batch_3") {
			return f
		}
		return writerFunc(func(p []byte) (int, error) {
			f.Write(p[:10])
			return 10, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		})
	}
	t.Cleanup(restoreDisk)
	err := Download(root, "cifar10", opts...)
	wantWriteError(t, err, root, cifarDir+"/data_batch_3.bin", syscall.ENOSPC)
	wantErr(t, err, "unpacking "+cifarArchive)
	var fe *FormatError
	if errors.As(err, &fe) {
		t.Fatalf("a full disk reported as a bad archive: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, cifarArchive)); err != nil {
		t.Fatalf("the archive was not kept: %v", err)
	}
	for _, f := range []string{"data_batch_1.bin", "data_batch_2.bin"} {
		if got, err := os.ReadFile(filepath.Join(root, cifarDir, f)); err != nil || !bytes.Equal(got, set[f]) {
			t.Fatalf("%s unpacked before the disk filled is not whole (%v)", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, cifarDir, "data_batch_3.bin")); err == nil {
		t.Fatal("the member that did not fit is under its final name")
	}
	noPartials(t, root)
	// Meanwhile the set still loads, straight from the archive.
	if _, err := Load(root, "cifar10", Train, append(opts, noDownload)...); err != nil {
		t.Fatal(err)
	}

	restoreDisk()
	if err := Download(root, "cifar10", opts...); err != nil {
		t.Fatal(err)
	}
	for f, want := range set {
		if got, err := os.ReadFile(filepath.Join(root, cifarDir, f)); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s after unpacking again: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, cifarArchive)); err == nil {
		t.Fatal("the archive was kept after a complete unpack")
	}
	if srv.hits["/cifar-10-binary.tar.gz"] != 1 {
		t.Fatalf("the archive was downloaded %d times", srv.hits["/cifar-10-binary.tar.gz"])
	}
}

// TestDataDirUnderAFile: a data directory that cannot exist (its parent is
// a regular file — this holds for root too, unlike permissions) is one clear
// error naming the directory and the fix, raised before any transfer, for
// every loader and for Download.
func TestDataDirUnderAFile(t *testing.T) {
	files := smallMNIST()
	srv := newFileServer(t, servedPaths(files, "/mnist/"))
	plain := filepath.Join(t.TempDir(), "plain-file")
	writeFile(t, plain, []byte("not a directory"))
	root := filepath.Join(plain, "data")
	opts := []Option{withSources(mnistSources(t, files, srv.URL)), WithProgress(nil)}

	check := func(err error, file string) {
		t.Helper()
		wantWriteError(t, err, root, file, syscall.ENOTDIR)
		wantErr(t, err, "create a directory under "+plain+": not a directory")
	}
	_, err := Load(root, "mnist", Train, opts...)
	check(err, "mnist/train-images-idx3-ubyte.gz")
	check(Download(root, "mnist", opts...), "mnist/train-images-idx3-ubyte.gz")
	_, err = Load(root, "cifar10", Test, WithProgress(nil))
	check(err, cifarArchive)
	_, err = LoadSST2(root, Dev, WithProgress(nil))
	check(err, sst2Archive)
	if len(srv.hits) != 0 {
		t.Fatalf("requests made for an impossible directory: %v", srv.hits)
	}
	// With downloads off, the problem is the missing file, as before.
	_, err = Load(root, "mnist", Train, noDownload)
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("without downloads: %v", err)
	}
}

// TestReadOnlyDataDir: a data directory that refuses new files is one clear
// error raised before any transfer, and a read-only directory that holds the
// files loads them. Permission bits do not stop root, so as root a read-only
// tmpfs is used where one can be mounted (see readOnlyDir).
func TestReadOnlyDataDir(t *testing.T) {
	files := smallMNIST()
	srv := newFileServer(t, servedPaths(files, "/mnist/"))
	opts := []Option{withSources(mnistSources(t, files, srv.URL)), WithProgress(nil)}

	root := readOnlyDir(t, func(string) {})
	_, err := Load(root, "mnist", Test, opts...)
	var want error = os.ErrPermission
	if os.Geteuid() == 0 {
		want = syscall.EROFS
	}
	wantWriteError(t, err, root, "mnist/t10k-images-idx3-ubyte.gz", want)
	if len(srv.hits) != 0 {
		t.Fatalf("requests made for a read-only directory: %v", srv.hits)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("the read-only directory holds %v", entries)
	}

	full := readOnlyDir(t, func(dir string) { writeMNIST(t, dir, "mnist", 4, true) })
	if im, err := Load(full, "mnist", Test, opts...); err != nil || im.N != 3 {
		t.Fatalf("a read-only directory holding the files: %v", err)
	}
}
