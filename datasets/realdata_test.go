package datasets

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// realDataDir returns $MORPHREUSE_DATA, skipping the test when it is unset:
// the real sets are not part of the repository (CI prepares them with
// shared/data/prepare DIR and sets the variable).
func realDataDir(tb testing.TB) string {
	dir := os.Getenv(EnvDataDir)
	if dir == "" {
		tb.Skipf("$%s is not set: the real data sets are not available (prepare them with shared/data/prepare DIR)", EnvDataDir)
	}
	return dir
}

// channelStats returns the mean and standard deviation of each channel of im's normalised pixels.
func channelStats(im *Images) (mean, std []float64) {
	mean, std = make([]float64, im.Channels), make([]float64, im.Channels)
	sum, sq := make([]float64, im.Channels), make([]float64, im.Channels)
	for i, v := range im.Pixels {
		c := i % im.Channels
		sum[c] += float64(v)
		sq[c] += float64(v) * float64(v)
	}
	n := float64(len(im.Pixels) / im.Channels)
	for c := range mean {
		mean[c] = sum[c] / n
		std[c] = math.Sqrt(sq[c]/n - mean[c]*mean[c])
	}
	return mean, std
}

func labelCounts(labels []int32) map[int32]int {
	m := map[int32]int{}
	for _, l := range labels {
		m[l]++
	}
	return m
}

func TestRealImageSets(t *testing.T) {
	dir := realDataDir(t)
	for _, tc := range []struct {
		name                  string
		train, test           int
		firstTrain, firstTest int32 // -1: not checked (the local CIFAR-10 copy is reshuffled)
		statTol               float64
	}{
		// The SPEC constants are the training sets' own statistics, so the normalised training pixels
		// have mean ≈ 0 and std ≈ 1; the local CIFAR-10 went through JPEG, hence the looser tolerance.
		{"mnist", 60000, 10000, 5, 7, 0.002},
		{"fashion-mnist", 60000, 10000, 9, 9, 0.002},
		{"cifar10", 50000, 10000, -1, -1, 0.02},
	} {
		t.Run(tc.name, func(t *testing.T) {
			train, err := Load(dir, tc.name, Train, WithoutDownload())
			if err != nil {
				t.Fatal(err)
			}
			test, err := Load(dir, tc.name, Test, WithoutDownload())
			if err != nil {
				t.Fatal(err)
			}
			if train.N != tc.train || test.N != tc.test {
				t.Fatalf("%d/%d examples, want %d/%d", train.N, test.N, tc.train, tc.test)
			}
			if tc.firstTrain >= 0 && (train.Labels[0] != tc.firstTrain || test.Labels[0] != tc.firstTest) {
				t.Fatalf("first labels %d/%d, want %d/%d", train.Labels[0], test.Labels[0], tc.firstTrain, tc.firstTest)
			}
			mean, std := channelStats(train)
			for c := range mean {
				if math.Abs(mean[c]) > tc.statTol || math.Abs(std[c]-1) > tc.statTol {
					t.Errorf("channel %d of normalised training pixels: mean %.4f std %.4f, want 0 and 1", c, mean[c], std[c])
				}
			}
			for _, im := range []*Images{train, test} {
				if counts := labelCounts(im.Labels); len(counts) != 10 {
					t.Errorf("%s: %d classes: %v", im.Split, len(counts), counts)
				}
			}
			if tc.name == "cifar10" {
				// Per README: 5,000 training and 1,000 test images per class.
				for l, c := range labelCounts(train.Labels) {
					if c != 5000 || labelCounts(test.Labels)[l] != 1000 {
						t.Errorf("class %d: %d train, %d test", l, c, labelCounts(test.Labels)[l])
					}
				}
			}
			if tc.name == "mnist" {
				// Image 0 of the training set (a 5) spans the whole scale: black corner, some pixels at 255.
				lo, hi := wantPixel(0, 0.1307, 0.3081), wantPixel(255, 0.1307, 0.3081)
				if math.Abs(float64(train.Pixels[0]-lo)) > 1e-6 {
					t.Errorf("pixel (0,0) of image 0 = %v, want %v (black)", train.Pixels[0], lo)
				}
				max := train.Pixels[0]
				for _, v := range train.Pixels[:784] {
					max = float32(math.Max(float64(max), float64(v)))
				}
				if math.Abs(float64(max-hi)) > 1e-6 {
					t.Errorf("brightest pixel of image 0 = %v, want %v (255)", max, hi)
				}
			}
		})
	}
}

func TestRealSST2(t *testing.T) {
	dir := realDataDir(t)
	for _, tc := range []struct {
		split    Split
		n        int
		neg, pos int
	}{{Train, 67349, 29780, 37569}, {Dev, 872, 428, 444}, {Test, 1821, 912, 909}} {
		s, err := LoadSST2(dir, tc.split, WithoutDownload())
		if err != nil {
			t.Fatal(err)
		}
		counts := labelCounts(s.Labels)
		if len(s.Text) != tc.n || counts[0] != tc.neg || counts[1] != tc.pos {
			t.Errorf("%s: %d sentences, labels %v; want %d (%d/%d)", tc.split, len(s.Text), counts, tc.n, tc.neg, tc.pos)
		}
	}
	tr, err := LoadSST2(dir, Train, WithoutDownload())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Text[0] != "hide new secretions from the parental units" || tr.Labels[0] != 0 {
		t.Errorf("first training example %q/%d", tr.Text[0], tr.Labels[0])
	}
}

// The loader benchmarks read the real sets; MB/s counts the decoded bytes (pixels and labels).

func benchmarkLoad(b *testing.B, name string) {
	dir := realDataDir(b)
	var bytes int64
	for _, split := range []Split{Train, Test} {
		im, err := Load(dir, name, split, WithoutDownload())
		if err != nil {
			b.Fatal(err)
		}
		bytes += int64(len(im.Pixels) + len(im.Labels))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	for b.Loop() {
		for _, split := range []Split{Train, Test} {
			im, err := Load(dir, name, split, WithoutDownload())
			if err != nil {
				b.Fatal(err)
			}
			im.Tensors(name != "cifar10")
		}
	}
}

// BenchmarkLoadMNIST: both splits from .gz to normalised tensors.
func BenchmarkLoadMNIST(b *testing.B)        { benchmarkLoad(b, "mnist") }
func BenchmarkLoadFashionMNIST(b *testing.B) { benchmarkLoad(b, "fashion-mnist") }
func BenchmarkLoadCIFAR10(b *testing.B)      { benchmarkLoad(b, "cifar10") }

func BenchmarkLoadSST2(b *testing.B) {
	dir := realDataDir(b)
	var size int64
	for _, f := range []string{"train.tsv", "dev.tsv", "test.tsv"} {
		st, err := os.Stat(filepath.Join(dir, "SST-2", f))
		if err != nil {
			b.Fatal(err)
		}
		size += st.Size()
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, split := range []Split{Train, Dev, Test} {
			if _, err := LoadSST2(dir, split, WithoutDownload()); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkEpochOrder(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		if _, err := EpochOrder(60000, 128, 1, i); err != nil {
			b.Fatal(err)
		}
	}
}
