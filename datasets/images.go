package datasets

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Split names a part of a data set. Image sets have Train and Test; SST-2 also has Dev.
type Split string

// The splits.
const (
	Train Split = "train"
	Dev   Split = "dev"
	Test  Split = "test"
)

// Normalization holds per-channel constants: a pixel p of channel c becomes
// (p/255 - Mean[c]) / Std[c], in float32. Mean 0 and Std 1 give plain p/255.
type Normalization struct{ Mean, Std []float32 }

// Images is one split of an image data set, normalised, in memory.
type Images struct {
	Name                       string // canonical set name: "mnist", "fashion-mnist" or "cifar10"
	Split                      Split
	N, Height, Width, Channels int
	Pixels                     []float32 // N·Height·Width·Channels normalised values, NHWC (channels last)
	Labels                     []int32   // N class indices in [0, 10)
	Norm                       Normalization
}

// imageSet describes one image data set.
type imageSet struct {
	name                    string // canonical name
	dir                     string // folder under the data directory
	height, width, channels int
	norm                    Normalization
}

var imageSets = map[string]imageSet{
	"mnist": {name: "mnist", dir: "mnist", height: 28, width: 28, channels: 1,
		norm: Normalization{Mean: []float32{0.1307}, Std: []float32{0.3081}}},
	"fashion-mnist": {name: "fashion-mnist", dir: "fashion-mnist", height: 28, width: 28, channels: 1,
		norm: Normalization{Mean: []float32{0.2860}, Std: []float32{0.3530}}},
	"cifar10": {name: "cifar10", dir: cifarDir, height: 32, width: 32, channels: 3,
		norm: Normalization{Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.2470, 0.2435, 0.2616}}},
}

const numClasses = 10

// canonicalName maps a user-supplied set name (any case, with or without '-'
// or '_') to its canonical form; "" if unknown.
func canonicalName(name string) string {
	key := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(name))
	switch key {
	case "mnist":
		return "mnist"
	case "fashionmnist":
		return "fashion-mnist"
	case "cifar10":
		return "cifar10"
	case "sst2":
		return "sst2"
	}
	return ""
}

func lookupImageSet(name string) (imageSet, error) {
	set, ok := imageSets[canonicalName(name)]
	if !ok {
		names := make([]string, 0, len(imageSets))
		for n := range imageSets {
			names = append(names, n)
		}
		sort.Strings(names)
		return imageSet{}, fmt.Errorf("datasets: unknown image set %q (known: %s)", name, strings.Join(names, ", "))
	}
	return set, nil
}

// DefaultNormalization returns SPEC §2's per-channel mean and std of an image set.
func DefaultNormalization(name string) (Normalization, error) {
	set, err := lookupImageSet(name)
	if err != nil {
		return Normalization{}, err
	}
	return set.norm.clone(), nil
}

func (n Normalization) clone() Normalization {
	return Normalization{Mean: append([]float32(nil), n.Mean...), Std: append([]float32(nil), n.Std...)}
}

func (n Normalization) check(channels int) error {
	if len(n.Mean) != channels || len(n.Std) != channels {
		return fmt.Errorf("datasets: normalization has %d means and %d stds, want one per channel (%d)", len(n.Mean), len(n.Std), channels)
	}
	for c := range channels {
		m, s := float64(n.Mean[c]), float64(n.Std[c])
		if math.IsNaN(m) || math.IsInf(m, 0) || !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("datasets: normalization channel %d: mean %v, std %v: want finite mean and finite std > 0", c, m, s)
		}
	}
	return nil
}

// luts precomputes the normalised value of every byte value per channel, with
// exactly the float32 operations (p/255 - mean)/std.
func (n Normalization) luts() [][256]float32 {
	out := make([][256]float32, len(n.Mean))
	for c := range out {
		for v := range 256 {
			x := float32(v) / float32(255)
			x = float32(x - n.Mean[c])
			out[c][v] = float32(x / n.Std[c])
		}
	}
	return out
}

// Load reads one split (Train or Test) of an image set — "mnist",
// "fashion-mnist" or "cifar10" — from Dir(dir), downloading missing files
// unless WithoutDownload is given.
func Load(dir, name string, split Split, opts ...Option) (*Images, error) {
	cfg := newConfig(opts)
	set, err := lookupImageSet(name)
	if err != nil {
		return nil, err
	}
	if split != Train && split != Test {
		return nil, fmt.Errorf("datasets: %s has no split %q (want %q or %q)", set.name, split, Train, Test)
	}
	norm := set.norm.clone()
	if cfg.norm != nil {
		norm = cfg.norm.clone()
	}
	if err := norm.check(set.channels); err != nil {
		return nil, err
	}
	root := Dir(dir)
	var im *Images
	if set.name == "cifar10" {
		im, err = loadCIFAR(root, split, norm, cfg)
	} else {
		im, err = loadIDXImages(root, set, split, norm, cfg)
	}
	if err != nil {
		return nil, err
	}
	im.Name, im.Split, im.Norm = set.name, split, norm
	im.Height, im.Width, im.Channels = set.height, set.width, set.channels
	return im, nil
}

// idxNames returns the image and label file names of an MNIST-style split.
func idxNames(split Split) (images, labels string) {
	prefix := "train"
	if split == Test {
		prefix = "t10k"
	}
	return prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz"
}

func loadIDXImages(root string, set imageSet, split Split, norm Normalization, cfg *config) (*Images, error) {
	imgName, lblName := idxNames(split)
	imgPath, err := cfg.locateIDX(root, set.dir, imgName)
	if err != nil {
		return nil, err
	}
	lblPath, err := cfg.locateIDX(root, set.dir, lblName)
	if err != nil {
		return nil, err
	}
	img, err := readIDX(imgPath)
	if err != nil {
		return nil, err
	}
	lbl, err := readIDX(lblPath)
	if err != nil {
		return nil, err
	}
	n, err := checkIDXImages(imgPath, img, set.height, set.width)
	if err != nil {
		return nil, err
	}
	labels, err := checkIDXLabels(lblPath, lbl)
	if err != nil {
		return nil, err
	}
	if len(labels) != n {
		return nil, byteErr(lblPath, 4, "%d labels, but %s holds %d images", len(labels), imgPath, n)
	}
	pixels := make([]float32, len(img.data))
	lut := &norm.luts()[0]
	parallelRange(n, func(lo, hi int) {
		src := img.data[lo*set.height*set.width : hi*set.height*set.width]
		dst := pixels[lo*set.height*set.width : hi*set.height*set.width]
		for i, v := range src {
			dst[i] = lut[v]
		}
	})
	return &Images{N: n, Pixels: pixels, Labels: labels}, nil
}

// checkIDXImages checks an IDX image file is uint8 [N, height, width] with N > 0.
func checkIDXImages(name string, f *idxFile, height, width int) (int, error) {
	if f.typ != idxUint8 {
		return 0, byteErr(name, 2, "element type 0x%02x, want 0x08 (unsigned bytes) for images", f.typ)
	}
	if len(f.dims) != 3 {
		return 0, byteErr(name, 3, "rank %d with dimensions %v, want 3 ([N, %d, %d] images)", len(f.dims), f.dims, height, width)
	}
	if f.dims[1] != height || f.dims[2] != width {
		return 0, byteErr(name, 8, "images are %d×%d, want %d×%d", f.dims[1], f.dims[2], height, width)
	}
	if f.dims[0] == 0 {
		return 0, byteErr(name, 4, "no images (dimension 0 is 0)")
	}
	return f.dims[0], nil
}

// checkIDXLabels checks an IDX label file is uint8 [N] with N > 0 and every label below 10.
func checkIDXLabels(name string, f *idxFile) ([]int32, error) {
	if f.typ != idxUint8 {
		return nil, byteErr(name, 2, "element type 0x%02x, want 0x08 (unsigned bytes) for labels", f.typ)
	}
	if len(f.dims) != 1 {
		return nil, byteErr(name, 3, "rank %d with dimensions %v, want 1 ([N] labels)", len(f.dims), f.dims)
	}
	if f.dims[0] == 0 {
		return nil, byteErr(name, 4, "no labels (dimension 0 is 0)")
	}
	labels := make([]int32, len(f.data))
	for i, v := range f.data {
		if v >= numClasses {
			return nil, byteErr(name, int64(f.headerSize+i), "label %d out of range [0,%d)", v, numClasses)
		}
		labels[i] = int32(v)
	}
	return labels, nil
}

// Tensors returns the examples as x, float32 [N,H,W,C] (flat: [N,H·W·C], what
// an MLP takes), and y, int32 [N]. Both are fresh host tensors holding copies.
func (im *Images) Tensors(flat bool) (x, y *tensors.Tensor) {
	if flat {
		x = tensors.FromFlatDataAndDimensions(im.Pixels, im.N, im.Height*im.Width*im.Channels)
	} else {
		x = tensors.FromFlatDataAndDimensions(im.Pixels, im.N, im.Height, im.Width, im.Channels)
	}
	return x, tensors.FromFlatDataAndDimensions(im.Labels, im.N)
}

// Subset returns the first n examples (sharing memory with im), or im itself
// when n <= 0 or n >= im.N — so a zero limit means "no limit".
func (im *Images) Subset(n int) *Images {
	if n <= 0 || n >= im.N {
		return im
	}
	s := *im
	size := im.Height * im.Width * im.Channels
	s.N = n
	s.Pixels = im.Pixels[: n*size : n*size]
	s.Labels = im.Labels[:n:n]
	return &s
}

// parallelRange splits [0, n) into one contiguous chunk per available CPU.
func parallelRange(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		wg.Go(func() { fn(lo, min(lo+chunk, n)) })
	}
	wg.Wait()
}
