package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// diskFullAfter makes every temporary file written by writeFileAtomic take
// limit bytes and then fail with ENOSPC, as a full disk does (the error is an
// *os.PathError naming the temporary file, like the kernel's). It reports
// the temporary files it saw and their size on disk when the write failed.
func diskFullAfter(t *testing.T, limit int) *[]partialWrite {
	t.Helper()
	var seen []partialWrite
	tempWriter = func(f *os.File) io.Writer {
		return writerFunc(func(p []byte) (int, error) {
			n := min(len(p), limit)
			if _, err := f.Write(p[:n]); err != nil {
				t.Fatalf("writing the first %d bytes: %v", n, err)
			}
			if n == len(p) {
				return n, nil
			}
			st, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, partialWrite{name: f.Name(), size: st.Size()})
			return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		})
	}
	t.Cleanup(func() { tempWriter = func(f *os.File) io.Writer { return f } })
	return &seen
}

type partialWrite struct {
	name string
	size int64
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// atomicWriters are the three files the results package writes, each with a
// first version (written before the disk fills) and a second one.
func atomicWriters() []struct {
	name   string
	file   string // in the directory passed to write
	write  func(dir string, second bool) error
	render func(second bool) []byte
} {
	recs := func(second bool) []*Record {
		if second {
			return syntheticRecords()
		}
		return syntheticRecords()[:5]
	}
	rec := func(second bool) *Record {
		acc := 0.97
		if second {
			acc = 0.99
		}
		r := newRecord("mnist", "baseline", 0, acc)
		for i := 4; i <= 40; i++ { // a record of several KiB, so that a full disk cuts it in the middle
			r.Epochs = append(r.Epochs, Epoch{Epoch: i, TrainLoss: 1 / float64(i), TestAccuracy: Float(acc), Seconds: 10})
		}
		return r
	}
	opts := ReportOptions{Reference: &PyTorchReference, Generated: generated}
	return []struct {
		name   string
		file   string
		write  func(dir string, second bool) error
		render func(second bool) []byte
	}{
		{"Write", rec(false).FileName(),
			func(dir string, second bool) error { return Write(dir, rec(second)) },
			func(second bool) []byte {
				r := *rec(second)
				b, _ := json.MarshalIndent(&r, "", "  ")
				return append(b, '\n')
			}},
		{"WriteReport", "report.html",
			func(dir string, second bool) error {
				return WriteReport(filepath.Join(dir, "report.html"), recs(second), opts)
			},
			func(second bool) []byte { b, _ := Report(recs(second), opts); return b }},
		{"WriteREADME", "README.md",
			func(dir string, second bool) error {
				return WriteREADME(filepath.Join(dir, "README.md"), recs(second), opts)
			},
			func(second bool) []byte { s, _ := README(recs(second), opts); return []byte(s) }},
	}
}

// TestDiskFullMidFileLosesNothing: when the disk fills up in the middle of a
// record, report or README, the writer returns an error naming the file and
// saying the disk is full; the previous complete file is untouched; no
// temporary file is left; and once space is back the same call succeeds.
func TestDiskFullMidFileLosesNothing(t *testing.T) {
	for _, w := range atomicWriters() {
		for _, frac := range []struct {
			name string
			of   func(n int) int
		}{{"nothing written", func(int) int { return 0 }}, {"1 byte", func(int) int { return 1 }},
			{"half", func(n int) int { return n / 2 }}, {"all but 1 byte", func(n int) int { return n - 1 }}} {
			t.Run(w.name+"/"+frac.name, func(t *testing.T) {
				dir := t.TempDir()
				final := filepath.Join(dir, w.file)
				if err := w.write(dir, false); err != nil {
					t.Fatal(err)
				}
				before, err := os.ReadFile(final)
				if err != nil {
					t.Fatal(err)
				}
				limit := frac.of(len(w.render(true)))
				partials := diskFullAfter(t, limit)

				err = w.write(dir, true)
				if err == nil {
					t.Fatal("no error from a full disk")
				}
				if !errors.Is(err, syscall.ENOSPC) {
					t.Errorf("error %v does not wrap ENOSPC", err)
				}
				for _, want := range []string{final, "no space left on device"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
					}
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				if len(*partials) != 1 || (*partials)[0].size != int64(limit) {
					t.Fatalf("want one temporary file cut at byte %d, saw %+v", limit, *partials)
				}
				after, err := os.ReadFile(final)
				if err != nil || !bytes.Equal(before, after) {
					t.Fatalf("the previous complete file changed (err %v)", err)
				}
				if names := dirNames(t, dir); len(names) != 1 || names[0] != w.file {
					t.Fatalf("directory holds %v, want only %s", names, w.file)
				}

				// Space is back: the same call now replaces the file completely.
				tempWriter = func(f *os.File) io.Writer { return f }
				if err := w.write(dir, true); err != nil {
					t.Fatal(err)
				}
				if got, _ := os.ReadFile(final); bytes.Equal(got, before) {
					t.Fatal("the second version was not written")
				}
				if names := dirNames(t, dir); len(names) != 1 {
					t.Fatalf("directory holds %v", names)
				}
			})
		}
	}
}

// TestDiskFullOnAFirstWriteLeavesNoFile: with no previous version, a failed
// write leaves neither the final name nor a temporary file.
func TestDiskFullOnAFirstWriteLeavesNoFile(t *testing.T) {
	for _, w := range atomicWriters() {
		t.Run(w.name, func(t *testing.T) {
			dir := t.TempDir()
			diskFullAfter(t, 100)
			err := w.write(dir, true)
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), filepath.Join(dir, w.file)) {
				t.Fatalf("error %v", err)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Fatalf("directory holds %v after a failed first write", names)
			}
		})
	}
}

// TestWriteErrorsNameTheFile: a directory that cannot hold the file, or a
// final name that is taken by a directory, is one error naming the file, and
// nothing is left behind.
func TestWriteErrorsNameTheFile(t *testing.T) {
	for _, w := range atomicWriters() {
		t.Run(w.name+"/parent is a file", func(t *testing.T) {
			// A path under a regular file cannot be created, even by root.
			parent := filepath.Join(t.TempDir(), "plain-file")
			if err := os.WriteFile(parent, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := w.write(filepath.Join(parent, "out"), true)
			if err == nil || !strings.Contains(err.Error(), filepath.Join(parent, "out")) || !strings.Contains(err.Error(), "not a directory") {
				t.Fatalf("error %v", err)
			}
		})
		t.Run(w.name+"/final name is a directory", func(t *testing.T) {
			dir := t.TempDir()
			final := filepath.Join(dir, w.file)
			if err := os.MkdirAll(filepath.Join(final, "keep"), 0o755); err != nil {
				t.Fatal(err)
			}
			err := w.write(dir, true)
			if err == nil || !strings.Contains(err.Error(), final) {
				t.Fatalf("error %v", err)
			}
			if names := dirNames(t, dir); len(names) != 1 {
				t.Fatalf("directory holds %v", names)
			}
			if _, err := os.Stat(filepath.Join(final, "keep")); err != nil {
				t.Fatal("the directory in the way was changed")
			}
		})
	}
}
