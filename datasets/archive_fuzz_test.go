package datasets

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The archives (CIFAR-10's .tar.gz, SST-2's .zip) are unpacked into the data
// directory, so their fuzz targets check where bytes land, not only that
// nothing panics. FuzzCIFAR feeds the .tar.gz parser gzip bytes, which the
// fuzzer rarely gets past the gzip layer; FuzzCIFARTar mutates the tar
// stream itself and compresses it in the target.

// noSync turns fsync off for a fuzz target: unpacking thousands of archives
// would otherwise wait on the disk, not on the code under test.
func noSync(f *testing.F) {
	syncFile = func(*os.File) error { return nil }
	f.Cleanup(func() { syncFile = (*os.File).Sync })
}

// fuzzMaxMember is the member size limit in the archive targets: small, so
// that the fuzzer reaches it.
const fuzzMaxMember = 4 * cifarRecord

// checkUnpacked fails if anything but regular files of at most maxMember
// bytes, and directories, ended up under root, if anything is outside
// root/data, or if a temporary file is left.
func checkUnpacked(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatalf("walking the unpacked files: %v", err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel != "." && rel != "data" && !strings.HasPrefix(rel, "data"+string(filepath.Separator)) {
			t.Fatalf("unpacked outside the data directory: %s", rel)
		}
		if strings.HasSuffix(p, ".partial") {
			t.Fatalf("temporary file left: %s", rel)
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() || info.Size() > fuzzMaxMember {
			t.Fatalf("unpacked %s: mode %v, %d bytes", rel, info.Mode(), info.Size())
		}
		return nil
	})
}

// wantArchiveError fails unless err is nil, a *FormatError (the archive) or a
// *WriteError (a member name the file system refuses, e.g. too long).
func wantArchiveError(t *testing.T, err error) {
	t.Helper()
	var fe *FormatError
	var we *WriteError
	if err != nil && !errors.As(err, &fe) && !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is neither a *FormatError nor a *WriteError", err, err)
	}
}

func gunzip(t testing.TB, b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func FuzzCIFARTar(f *testing.F) {
	one := cifarBytes(1, 3)
	for _, entries := range [][]tarEntry{
		{{name: cifarDir + "/", typ: tar.TypeDir}, {name: cifarDir + "/test_batch.bin", body: one}},
		{{name: cifarDir + "/test_batch.bin", body: one[:100]}},
		{{name: cifarDir + "/test_batch.bin", body: one}, {name: cifarDir + "/test_batch.bin", body: one}},
		{{name: cifarDir + "/test_batch.bin", typ: tar.TypeSymlink, linkname: "/etc/passwd"}},
		{{name: cifarDir + "/data_batch_1.bin", typ: tar.TypeLink, linkname: cifarDir + "/test_batch.bin"}},
		{{name: "../" + cifarDir + "/test_batch.bin", body: one}},
		{{name: cifarDir + "/x", body: []byte("x")}, {name: cifarDir + "/x/test_batch.bin", body: one}},
	} {
		f.Add(gunzip(f, tarGz(f, entries)))
	}
	noSync(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.NoCompression) // stored blocks: fast, and the tar stream is what is fuzzed
		zw.Write(b)
		zw.Close()

		batches, err := parseCIFARArchive("fuzz.tar.gz", bytes.NewReader(gz.Bytes()), []string{"test_batch.bin"})
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a *FormatError", err, err)
			}
		} else if len(batches) != 1 || batches[0].n == 0 || batches[0].n*cifarRecord != len(batches[0].data) {
			t.Fatalf("archive accepted as %+v", batches)
		}

		root := t.TempDir()
		err = unpackTarGz("fuzz.tar.gz", bytes.NewReader(gz.Bytes()), filepath.Join(root, "data"),
			func(string) bool { return true }, fuzzMaxMember)
		wantArchiveError(t, err)
		checkUnpacked(t, root)
	})
}

func FuzzSST2Zip(f *testing.F) {
	tsv := []byte("sentence\tlabel\nhide new secretions \t0\nit 's a charming journey \t1\n")
	f.Add(zipBytes(f, []zipEntry{{name: "SST-2/"}, {name: "SST-2/train.tsv", body: tsv}}))
	f.Add(zipBytes(f, []zipEntry{{name: "SST-2/train.tsv", body: tsv}, {name: "SST-2/train.tsv", body: []byte("x")}}))
	f.Add(zipBytes(f, []zipEntry{{name: "SST-2/train.tsv", body: []byte("/etc/passwd"), mode: os.ModeSymlink | 0o777}}))
	f.Add(zipBytes(f, []zipEntry{{name: "SST-2/../../evil.tsv", body: tsv}}))
	f.Add(zipBytes(f, []zipEntry{{name: "SST-2/train.tsv", body: make([]byte, fuzzMaxMember+1)}}))
	var stored bytes.Buffer // an uncompressed member, whose bytes the fuzzer can change directly
	zw := zip.NewWriter(&stored)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "SST-2/train.tsv", Method: zip.Store})
	w.Write(tsv)
	zw.Close()
	f.Add(stored.Bytes())
	noSync(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return // not a zip archive: archive/zip's own checks
		}
		root := t.TempDir()
		dest := filepath.Join(root, "data")
		err = unpackZip("fuzz.zip", zr, dest, func(string) bool { return true }, fuzzMaxMember)
		wantArchiveError(t, err)
		checkUnpacked(t, root)
		if err == nil {
			// What was unpacked parses or is refused with a FormatError.
			if data, rerr := os.ReadFile(filepath.Join(dest, "SST-2", "train.tsv")); rerr == nil {
				if _, perr := parseSST2("train.tsv", data, true); perr != nil {
					var fe *FormatError
					if !errors.As(perr, &fe) {
						t.Fatalf("parseSST2 error %T", perr)
					}
				}
			}
		}
	})
}
