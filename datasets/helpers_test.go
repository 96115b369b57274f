package datasets

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Test fixtures are written by the tests themselves: a few examples per file.

// idxBytes builds a raw IDX file.
func idxBytes(typ byte, dims []int, data []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// testPixel is the deterministic byte value of pixel p of image i.
func testPixel(i, p int) byte { return byte((i*31 + p*7) % 256) }

// mnistFiles returns the images and labels IDX files of n h×w test images with labels (i*3)%10.
func mnistFiles(n, h, w int) (images, labels []byte) {
	pix := make([]byte, n*h*w)
	for i := range n {
		for p := range h * w {
			pix[i*h*w+p] = testPixel(i, p)
		}
	}
	lbl := make([]byte, n)
	for i := range lbl {
		lbl[i] = byte(i * 3 % 10)
	}
	return idxBytes(idxUint8, []int{n, h, w}, pix), idxBytes(idxUint8, []int{n}, lbl)
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeMNIST lays out a small MNIST-style set (train n, test n/2+1) in root/setDir, gzipped or raw.
func writeMNIST(t testing.TB, root, setDir string, n int, gz bool) {
	for _, split := range []Split{Train, Test} {
		m := n
		if split == Test {
			m = n/2 + 1
		}
		img, lbl := mnistFiles(m, 28, 28)
		imgName, lblName := idxNames(split)
		if gz {
			img, lbl = gzipBytes(img), gzipBytes(lbl)
		} else {
			imgName, lblName = strings.TrimSuffix(imgName, ".gz"), strings.TrimSuffix(lblName, ".gz")
		}
		writeFile(t, filepath.Join(root, setDir, imgName), img)
		writeFile(t, filepath.Join(root, setDir, lblName), lbl)
	}
}

// cifarBytes returns n CIFAR-10 records; record i has label (i+first)%10 and channel c of pixel p is testPixel(i+first, 3*p+c).
func cifarBytes(n, first int) []byte {
	b := make([]byte, 0, n*cifarRecord)
	for i := first; i < first+n; i++ {
		b = append(b, byte(i%10))
		for c := range 3 {
			for p := range cifarPlane {
				b = append(b, testPixel(i, 3*p+c))
			}
		}
	}
	return b
}

// cifarSet returns the batch files of a small CIFAR-10 set: k records per train batch, k+1 in the test batch.
func cifarSet(k int) map[string][]byte {
	files := map[string][]byte{}
	for i, f := range cifarFiles(Train) {
		files[f] = cifarBytes(k, i*k)
	}
	files["test_batch.bin"] = cifarBytes(k+1, 1000)
	files["batches.meta.txt"] = []byte("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n")
	return files
}

type tarEntry struct {
	name     string
	body     []byte
	typ      byte
	linkname string
	size     int64 // header size when it should differ from len(body)
}

func tarGz(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := int64(len(e.body))
		if typ != tar.TypeReg {
			size = 0
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Linkname: e.linkname, Size: size, Mode: 0o644, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// cifarTarGz packs a CIFAR set as the official archive does (cifar-10-batches-bin/...).
func cifarTarGz(t testing.TB, files map[string][]byte) []byte {
	entries := []tarEntry{{name: cifarDir + "/", typ: tar.TypeDir}}
	for _, f := range append(cifarFiles(Train), "test_batch.bin", "batches.meta.txt") {
		if b, ok := files[f]; ok {
			entries = append(entries, tarEntry{name: cifarDir + "/" + f, body: b})
		}
	}
	return tarGz(t, entries)
}

type zipEntry struct {
	name string
	body []byte
	mode os.FileMode
}

func zipBytes(t testing.TB, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// wantErr fails unless err is non-nil and its message contains every fragment.
func wantErr(t testing.TB, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not contain %q", err, f)
		}
	}
}

// wantOffset fails unless err is a FormatError at byte offset off.
func wantOffset(t testing.TB, err error, off int64) {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FormatError", err, err)
	}
	if fe.Offset != off {
		t.Fatalf("error %q at byte %d, want byte %d", err, fe.Offset, off)
	}
}

// wantLine fails unless err is a FormatError at line ln.
func wantLine(t testing.TB, err error, ln int) {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FormatError", err, err)
	}
	if fe.Line != ln {
		t.Fatalf("error %q at line %d, want line %d", err, fe.Line, ln)
	}
}

// noDownload is the option every offline test passes.
var noDownload = WithoutDownload()

// withSources points downloads at a test catalogue instead of the publishers.
func withSources(s map[string]remote) Option { return func(c *config) { c.sources = s } }

// withStall shortens the stall watchdog.
func withStall(d time.Duration) Option { return func(c *config) { c.stall = d } }
