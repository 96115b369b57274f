package datasets

import (
	"archive/tar"
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var cifarMean, cifarStd = [3]float64{0.4914, 0.4822, 0.4465}, [3]float64{0.2470, 0.2435, 0.2616}

// checkCIFARImages verifies NHWC order, normalisation and labels of a set written by cifarSet(k).
func checkCIFARImages(t *testing.T, im *Images, split Split, k int) {
	t.Helper()
	n, first := 5*k, 0
	if split == Test {
		n, first = k+1, 1000
	}
	if im.N != n || im.Height != 32 || im.Width != 32 || im.Channels != 3 || len(im.Pixels) != n*3072 || im.Name != "cifar10" {
		t.Fatalf("%s: N=%d %dx%dx%d, %d pixels", split, im.N, im.Height, im.Width, im.Channels, len(im.Pixels))
	}
	for i := range n {
		if im.Labels[i] != int32((i+first)%10) {
			t.Fatalf("label %d = %d, want %d", i, im.Labels[i], (i+first)%10)
		}
		for _, yx := range [][2]int{{0, 0}, {0, 31}, {5, 7}, {31, 31}} {
			p := yx[0]*32 + yx[1]
			for c := range 3 {
				got := im.Pixels[((i*32+yx[0])*32+yx[1])*3+c]
				want := wantPixel(testPixel(i+first, 3*p+c), cifarMean[c], cifarStd[c])
				if math.Abs(float64(got-want)) > 1e-6 {
					t.Fatalf("image %d (y,x)=%v channel %d = %v, want %v", i, yx, c, got, want)
				}
			}
		}
	}
}

func TestLoadCIFARDirectory(t *testing.T) {
	root := t.TempDir()
	for f, b := range cifarSet(3) {
		writeFile(t, filepath.Join(root, cifarDir, f), b)
	}
	for _, split := range []Split{Train, Test} {
		im, err := Load(root, "cifar-10", split, noDownload)
		if err != nil {
			t.Fatal(err)
		}
		checkCIFARImages(t, im, split, 3)
	}
	x, _ := (&Images{N: 1, Height: 32, Width: 32, Channels: 3, Pixels: make([]float32, 3072), Labels: []int32{0}}).Tensors(false)
	if x.Shape().Dimensions[3] != 3 {
		t.Fatalf("CIFAR x %s, want channels last", x.Shape())
	}
}

func TestLoadCIFARArchive(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, cifarArchive), cifarTarGz(t, cifarSet(2)))
	for _, split := range []Split{Train, Test} {
		im, err := Load(root, "cifar10", split, noDownload)
		if err != nil {
			t.Fatal(err)
		}
		checkCIFARImages(t, im, split, 2)
	}
	if _, err := os.Stat(filepath.Join(root, cifarDir)); !os.IsNotExist(err) {
		t.Fatal("loading from the archive should not unpack it")
	}
}

func TestCIFARErrors(t *testing.T) {
	good := cifarBytes(3, 0)
	badLabel := append([]byte{}, good...)
	badLabel[cifarRecord] = 10
	for _, tc := range []struct {
		name  string
		b     []byte
		off   int64
		frags []string
	}{
		{"empty", nil, -1, []string{"empty file"}},
		{"one byte", good[:1], 0, []string{"truncated record 0: 1 of its 3073 bytes"}},
		{"truncated in record 2", good[:2*cifarRecord+100], 2 * cifarRecord, []string{"truncated record 2: 100 of its 3073 bytes", "2 whole records"}},
		{"one byte short", good[:len(good)-1], 2 * cifarRecord, []string{"truncated record 2: 3072 of its 3073"}},
		{"one byte too many", append(append([]byte{}, good...), 0), 3 * cifarRecord, []string{"truncated record 3: 1 of its 3073"}},
		{"label out of range", badLabel, cifarRecord, []string{"record 1: label 10 out of range [0,10)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			files := cifarSet(1)
			files["data_batch_4.bin"] = tc.b
			for f, b := range files {
				writeFile(t, filepath.Join(root, cifarDir, f), b)
			}
			_, err := Load(root, "cifar10", Train, noDownload)
			wantErr(t, err, append(tc.frags, filepath.Join(root, cifarDir, "data_batch_4.bin"))...)
			wantOffset(t, err, tc.off)

			// The same problem inside the archive names the member.
			root = t.TempDir()
			writeFile(t, filepath.Join(root, cifarArchive), cifarTarGz(t, files))
			_, err = Load(root, "cifar10", Train, noDownload)
			wantErr(t, err, append(tc.frags, cifarArchive+":"+cifarDir+"/data_batch_4.bin")...)
			wantOffset(t, err, tc.off)
		})
	}
}

func TestCIFARMissing(t *testing.T) {
	root := t.TempDir()
	files := cifarSet(1)
	delete(files, "data_batch_3.bin")
	for f, b := range files {
		writeFile(t, filepath.Join(root, cifarDir, f), b)
	}
	_, err := Load(root, "cifar10", Train, noDownload)
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want *MissingError", err)
	}
	wantErr(t, err, "cifar-10-batches-bin/data_batch_3.bin (or cifar-10-binary.tar.gz) not found in "+root, "downloads are disabled")
	if _, err := Load(root, "cifar10", Test, noDownload); err != nil {
		t.Fatalf("test split is complete: %v", err)
	}

	// An archive without the member.
	root = t.TempDir()
	writeFile(t, filepath.Join(root, cifarArchive), cifarTarGz(t, files))
	_, err = Load(root, "cifar10", Train, noDownload)
	wantErr(t, err, cifarArchive, "no member cifar-10-batches-bin/data_batch_3.bin")

	// A corrupt archive.
	archive := cifarTarGz(t, cifarSet(1))
	for _, cut := range []int{0, 10, len(archive) / 2, len(archive) - 4} {
		root = t.TempDir()
		writeFile(t, filepath.Join(root, cifarArchive), archive[:cut])
		_, err = Load(root, "cifar10", Train, noDownload)
		wantErr(t, err, cifarArchive)
	}
}

func TestTarSafety(t *testing.T) {
	rec := cifarBytes(1, 0)
	for _, tc := range []struct {
		name  string
		e     tarEntry
		frags []string
	}{
		{"traversal", tarEntry{name: "cifar-10-batches-bin/../../evil.bin", body: rec}, []string{"escapes the destination"}},
		{"absolute", tarEntry{name: "/tmp/evil.bin", body: rec}, []string{"absolute path"}},
		{"symlink", tarEntry{name: cifarDir + "/data_batch_1.bin", typ: tar.TypeSymlink, linkname: "/etc/passwd"}, []string{"a symbolic link"}},
		{"hard link", tarEntry{name: cifarDir + "/data_batch_1.bin", typ: tar.TypeLink, linkname: "x"}, []string{"a hard link"}},
		{"device", tarEntry{name: cifarDir + "/dev", typ: tar.TypeChar}, []string{"a device"}},
		{"oversize", tarEntry{name: cifarDir + "/data_batch_1.bin", body: make([]byte, 5000)}, []string{"5000 bytes, more than the 4096 allowed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dest := filepath.Join(root, "data")
			archive := filepath.Join(root, "a.tar.gz")
			writeFile(t, archive, tarGz(t, []tarEntry{{name: cifarDir + "/ok.bin", body: []byte("ok")}, tc.e}))
			err := extractTarGz(archive, dest, func(string) bool { return true }, 4096)
			wantErr(t, err, append(tc.frags, archive)...)
			if _, err := os.Stat(filepath.Join(root, "evil.bin")); err == nil {
				t.Fatal("a member was written outside the destination")
			}
			_, err = parseCIFARArchive(archive, bytes.NewReader(tarGz(t, []tarEntry{tc.e})), []string{"data_batch_1.bin"})
			wantErr(t, err, archive)
		})
	}
}

func TestExtractTarGzKeepsExistingFiles(t *testing.T) {
	root := t.TempDir()
	archive := filepath.Join(root, "a.tar.gz")
	writeFile(t, archive, tarGz(t, []tarEntry{{name: "d/new.bin", body: []byte("new")}, {name: "d/old.bin", body: []byte("replacement")}, {name: "skip.bin", body: []byte("x")}}))
	writeFile(t, filepath.Join(root, "d", "old.bin"), []byte("precious"))
	if err := extractTarGz(archive, root, func(n string) bool { return filepath.Dir(n) == "d" }, 100); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"d/new.bin": "new", "d/old.bin": "precious"} {
		if b, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(b) != want {
			t.Fatalf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "skip.bin")); err == nil {
		t.Fatal("an unwanted member was extracted")
	}
	if m, _ := filepath.Glob(filepath.Join(root, "d", "*.partial")); len(m) != 0 {
		t.Fatalf("left-over partial files %v", m)
	}
}

// FuzzCIFAR feeds bytes to the batch-file parser and to the archive reader.
// Seeds are whole 3 KB records, which the fuzzing engine's default 60 s
// minimisation of every new input handles slowly; run it with a short one:
//
//	go test -run '^$' -fuzz '^FuzzCIFAR$' -fuzztime 30s -fuzzminimizetime 1s ./datasets/
func FuzzCIFAR(f *testing.F) {
	f.Add(cifarBytes(2, 0))
	f.Add(cifarBytes(1, 9)[:100])
	bad := cifarBytes(1, 0)
	bad[0] = 200
	f.Add(bad)
	f.Add([]byte{})
	f.Add(cifarTarGz(f, map[string][]byte{"test_batch.bin": cifarBytes(1, 3)}))
	f.Add(tarGz(f, []tarEntry{{name: cifarDir + "/test_batch.bin", typ: tar.TypeSymlink, linkname: "x"}}))
	luts := (Normalization{Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.25, 0.25, 0.25}}).luts()
	f.Fuzz(func(t *testing.T, b []byte) {
		// As a batch file.
		n, err := checkCIFAR("fuzz", b)
		if err != nil {
			if _, ok := err.(*FormatError); !ok {
				t.Fatalf("error %v is %T, want *FormatError", err, err)
			}
		} else {
			if n*cifarRecord != len(b) || n == 0 {
				t.Fatalf("%d bytes accepted as %d records", len(b), n)
			}
			pix, labels := make([]float32, n*3*cifarPlane), make([]int32, n)
			decodeCIFAR(pix, labels, b, luts)
			if labels[n-1] != int32(b[(n-1)*cifarRecord]) || pix[0] != luts[0][b[1]] || pix[1] != luts[1][b[1+cifarPlane]] {
				t.Fatal("decoded values differ from the records")
			}
		}
		// As the official archive.
		batches, err := parseCIFARArchive("fuzz.tar.gz", bytes.NewReader(b), []string{"test_batch.bin"})
		if err == nil && (len(batches) != 1 || batches[0].n*cifarRecord != len(batches[0].data)) {
			t.Fatalf("archive accepted with batches %+v", batches)
		}
	})
}
