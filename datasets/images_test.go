package datasets

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// want computes (v/255 - mean)/std independently of the lookup tables, in float64, rounded once.
func wantPixel(v byte, mean, std float64) float32 {
	return float32((float64(v)/255 - mean) / std)
}

func TestLoadMNISTGzipAndRaw(t *testing.T) {
	for _, gz := range []bool{true, false} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			root := t.TempDir()
			writeMNIST(t, root, "mnist", 5, gz)
			for _, split := range []Split{Train, Test} {
				im, err := Load(root, "mnist", split, noDownload)
				if err != nil {
					t.Fatal(err)
				}
				n := 5
				if split == Test {
					n = 3
				}
				if im.N != n || im.Height != 28 || im.Width != 28 || im.Channels != 1 || im.Name != "mnist" || im.Split != split {
					t.Fatalf("got %s/%s N=%d %dx%dx%d", im.Name, im.Split, im.N, im.Height, im.Width, im.Channels)
				}
				if len(im.Pixels) != n*784 || len(im.Labels) != n {
					t.Fatalf("%d pixels, %d labels", len(im.Pixels), len(im.Labels))
				}
				for i := range n {
					if im.Labels[i] != int32(i*3%10) {
						t.Fatalf("label %d = %d, want %d", i, im.Labels[i], i*3%10)
					}
					for _, p := range []int{0, 1, 300, 783} {
						got, want := im.Pixels[i*784+p], wantPixel(testPixel(i, p), 0.1307, 0.3081)
						if math.Abs(float64(got-want)) > 1e-6 {
							t.Fatalf("image %d pixel %d = %v, want %v", i, p, got, want)
						}
					}
				}
			}
		})
	}
}

// TestNormalizationFloat32 checks the float32 recipe (p/255 - mean)/std exactly, as torchvision computes it.
func TestNormalizationFloat32(t *testing.T) {
	n := Normalization{Mean: []float32{0.1307}, Std: []float32{0.3081}}
	lut := n.luts()[0]
	for _, v := range []int{0, 1, 128, 254, 255} {
		x := float32(v) / 255
		x -= 0.1307
		if want := x / 0.3081; lut[v] != want {
			t.Fatalf("lut[%d] = %v, want %v", v, lut[v], want)
		}
	}
	if math.Abs(float64(lut[0])-(-0.1307/0.3081)) > 1e-6 || math.Abs(float64(lut[255])-(0.8693/0.3081)) > 1e-6 {
		t.Fatalf("lut[0]=%v lut[255]=%v", lut[0], lut[255])
	}
}

func TestLoadFashionMNISTNormalization(t *testing.T) {
	root := t.TempDir()
	writeMNIST(t, root, "fashion-mnist", 4, true)
	im, err := Load(root, "Fashion-MNIST", Train, noDownload)
	if err != nil {
		t.Fatal(err)
	}
	if im.Name != "fashion-mnist" || im.Norm.Mean[0] != 0.2860 || im.Norm.Std[0] != 0.3530 {
		t.Fatalf("name %q norm %+v", im.Name, im.Norm)
	}
	if got, want := im.Pixels[100], wantPixel(testPixel(0, 100), 0.2860, 0.3530); math.Abs(float64(got-want)) > 1e-6 {
		t.Fatalf("pixel = %v, want %v", got, want)
	}
	plain, err := Load(root, "fashion-mnist", Train, noDownload, WithNormalization(Normalization{Mean: []float32{0}, Std: []float32{1}}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plain.Pixels[100], float32(testPixel(0, 100))/255; got != want {
		t.Fatalf("unnormalised pixel = %v, want %v", got, want)
	}
	for _, bad := range []Normalization{
		{Mean: []float32{0, 0}, Std: []float32{1, 1}},
		{Mean: []float32{0}, Std: []float32{0}},
		{Mean: []float32{float32(math.NaN())}, Std: []float32{1}},
	} {
		_, err := Load(root, "fashion-mnist", Train, noDownload, WithNormalization(bad))
		wantErr(t, err, "normalization")
	}
}

func TestDefaultNormalization(t *testing.T) {
	n, err := DefaultNormalization("cifar10")
	if err != nil || fmt.Sprint(n.Mean, n.Std) != "[0.4914 0.4822 0.4465] [0.247 0.2435 0.2616]" {
		t.Fatalf("%+v %v", n, err)
	}
	n.Mean[0] = 9 // a copy: the defaults stay intact
	if m, _ := DefaultNormalization("cifar10"); m.Mean[0] != 0.4914 {
		t.Fatal("DefaultNormalization returned shared memory")
	}
	_, err = DefaultNormalization("imagenet")
	wantErr(t, err, `unknown image set "imagenet"`, "cifar10, fashion-mnist, mnist")
}

func TestTensorsAndSubset(t *testing.T) {
	root := t.TempDir()
	writeMNIST(t, root, "mnist", 6, true)
	im, err := Load(root, "mnist", Train, noDownload)
	if err != nil {
		t.Fatal(err)
	}
	x, y := im.Tensors(false)
	if x.DType() != dtypes.Float32 || fmt.Sprint(x.Shape().Dimensions) != "[6 28 28 1]" {
		t.Fatalf("x %s", x.Shape())
	}
	if y.DType() != dtypes.Int32 || fmt.Sprint(y.Shape().Dimensions) != "[6]" {
		t.Fatalf("y %s", y.Shape())
	}
	xf, _ := im.Tensors(true)
	if fmt.Sprint(xf.Shape().Dimensions) != "[6 784]" {
		t.Fatalf("flat x %s", xf.Shape())
	}
	flat := tensors.MustCopyFlatData[float32](xf)
	if flat[5*784+783] != im.Pixels[5*784+783] || flat[0] != im.Pixels[0] {
		t.Fatal("flat tensor data differs from Pixels")
	}
	if got := tensors.MustCopyFlatData[int32](y); fmt.Sprint(got) != fmt.Sprint(im.Labels) {
		t.Fatalf("y = %v, want %v", got, im.Labels)
	}

	sub := im.Subset(2)
	if sub.N != 2 || len(sub.Pixels) != 2*784 || len(sub.Labels) != 2 || im.N != 6 {
		t.Fatalf("subset N=%d pixels %d labels %d (original N=%d)", sub.N, len(sub.Pixels), len(sub.Labels), im.N)
	}
	sx, sy := sub.Tensors(true)
	if fmt.Sprint(sx.Shape().Dimensions, sy.Shape().Dimensions) != "[2 784] [2]" {
		t.Fatalf("subset tensors %s %s", sx.Shape(), sy.Shape())
	}
	if im.Subset(0) != im || im.Subset(6) != im || im.Subset(100) != im {
		t.Fatal("Subset(0 or >= N) should return the set itself")
	}
}

func TestLoadIDXErrors(t *testing.T) {
	img, lbl := mnistFiles(3, 28, 28)
	badLabel := append([]byte{}, lbl...)
	badLabel[8] = 11
	lastBad := append([]byte{}, lbl...)
	lastBad[10] = 10
	for _, tc := range []struct {
		name     string
		img, lbl []byte
		file     string
		off      int64
		frags    []string
	}{
		{"label out of range", img, badLabel, "train-labels-idx1-ubyte.gz", 8, []string{"label 11 out of range [0,10)"}},
		{"last label out of range", img, lastBad, "train-labels-idx1-ubyte.gz", 10, []string{"label 10 out of range"}},
		{"wrong dims", idxBytes(idxUint8, []int{3, 27, 28}, make([]byte, 3*27*28)), lbl, "train-images-idx3-ubyte.gz", 8, []string{"images are 27×28, want 28×28"}},
		{"wrong rank", idxBytes(idxUint8, []int{3, 784}, make([]byte, 3*784)), lbl, "train-images-idx3-ubyte.gz", 3, []string{"rank 2", "want 3"}},
		{"labels as images", lbl, lbl, "train-images-idx3-ubyte.gz", 3, []string{"rank 1"}},
		{"images not bytes", idxBytes(idxInt32, []int{3, 28, 28}, make([]byte, 4*3*784)), lbl, "train-images-idx3-ubyte.gz", 2, []string{"element type 0x0c, want 0x08"}},
		{"no images", idxBytes(idxUint8, []int{0, 28, 28}, nil), lbl, "train-images-idx3-ubyte.gz", 4, []string{"no images"}},
		{"count mismatch", img, idxBytes(idxUint8, []int{2}, []byte{1, 2}), "train-labels-idx1-ubyte.gz", 4, []string{"2 labels, but", "train-images-idx3-ubyte.gz holds 3 images"}},
		{"wrong magic", append([]byte{1, 2, 3, 4}, img[4:]...), lbl, "train-images-idx3-ubyte.gz", 0, []string{"bad magic"}},
		{"truncated images", img[:16+2*784+100], lbl, "train-images-idx3-ubyte.gz", 16 + 2*784 + 100, []string{"truncated"}},
		{"truncated labels", img, lbl[:9], "train-labels-idx1-ubyte.gz", 9, []string{"truncated"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, filepath.Join(root, "mnist", "train-images-idx3-ubyte.gz"), gzipBytes(tc.img))
			writeFile(t, filepath.Join(root, "mnist", "train-labels-idx1-ubyte.gz"), gzipBytes(tc.lbl))
			_, err := Load(root, "mnist", Train, noDownload)
			wantErr(t, err, append(tc.frags, filepath.Join(root, "mnist", tc.file)+": byte ")...)
			wantOffset(t, err, tc.off)
		})
	}
}

func TestLoadEmptyFile(t *testing.T) {
	root := t.TempDir()
	_, lbl := mnistFiles(3, 28, 28)
	writeFile(t, filepath.Join(root, "mnist", "t10k-images-idx3-ubyte.gz"), nil)
	writeFile(t, filepath.Join(root, "mnist", "t10k-labels-idx1-ubyte.gz"), lbl)
	_, err := Load(root, "mnist", Test, noDownload)
	wantErr(t, err, "t10k-images-idx3-ubyte.gz: empty file")
}

func TestLoadMissing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "nowhere")
	_, err := Load(root, "mnist", Train, noDownload)
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T), want *MissingError", err, err)
	}
	wantErr(t, err, "mnist/train-images-idx3-ubyte.gz not found in "+root, "the directory does not exist",
		"downloads are disabled", "to fix", EnvDataDir)
	if _, statErr := os.Stat(root); !os.IsNotExist(statErr) {
		t.Fatal("a failed load created the data directory")
	}

	// Only the labels missing: the error names the labels.
	os.MkdirAll(filepath.Join(root, "mnist"), 0o755)
	img, _ := mnistFiles(1, 28, 28)
	writeFile(t, filepath.Join(root, "mnist", "train-images-idx3-ubyte"), img)
	_, err = Load(root, "mnist", Train, noDownload)
	wantErr(t, err, "mnist/train-labels-idx1-ubyte.gz not found")
	if strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("error %q says the existing directory does not exist", err)
	}
}

func TestLoadBadArguments(t *testing.T) {
	_, err := Load(t.TempDir(), "mnist", Dev, noDownload)
	wantErr(t, err, `mnist has no split "dev"`)
	_, err = Load(t.TempDir(), "svhn", Train, noDownload)
	wantErr(t, err, `unknown image set "svhn"`)
}

func TestDir(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home directory:", err)
	}
	t.Setenv(EnvDataDir, "")
	if got, want := Dir(""), filepath.Join(home, ".cache", "morphreuse", "data"); got != want {
		t.Fatalf("default Dir = %q, want %q", got, want)
	}
	t.Setenv(EnvDataDir, "/env/data")
	if got := Dir(""); got != "/env/data" {
		t.Fatalf("Dir with $%s = %q", EnvDataDir, got)
	}
	if got := Dir("/explicit"); got != "/explicit" {
		t.Fatalf("explicit Dir = %q", got)
	}
	t.Setenv(EnvDataDir, "~/d")
	if got := Dir(""); got != filepath.Join(home, "d") {
		t.Fatalf("Dir(~/d) = %q", got)
	}
}

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{"MNIST": "mnist", "fashion_mnist": "fashion-mnist", "FashionMNIST": "fashion-mnist",
		"CIFAR-10": "cifar10", "cifar10": "cifar10", "SST-2": "sst2", "imagenet": ""} {
		if got := canonicalName(in); got != want {
			t.Errorf("canonicalName(%q) = %q, want %q", in, got, want)
		}
	}
}
