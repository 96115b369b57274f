package datasets

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"image"
	"image/png"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestClassNames(t *testing.T) {
	for name, want := range map[string][2]string{
		"mnist": {"0", "9"}, "Fashion_MNIST": {"T-shirt/top", "Ankle boot"}, "cifar-10": {"airplane", "truck"},
	} {
		got, err := ClassNames(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != numClasses || got[0] != want[0] || got[9] != want[1] {
			t.Errorf("ClassNames(%q) = %q", name, got)
		}
		got[0] = "changed" // a copy: the table stays intact
		if again, _ := ClassNames(name); again[0] != want[0] {
			t.Errorf("ClassNames(%q) returned the shared table", name)
		}
	}
	if _, err := ClassNames("sst2"); err == nil {
		t.Error("ClassNames(sst2): want an error (not an image set)")
	}
}

func TestPerClass(t *testing.T) {
	// Labels 0,3,6,9,2,5,8,1,4,7,0,3,... (i*3 % 10): every class appears once per 10 examples.
	im := &Images{N: 25, Labels: make([]int32, 25)}
	for i := range im.Labels {
		im.Labels[i] = int32(i * 3 % 10)
	}
	got := im.PerClass(2)
	want := []int{0, 7, 4, 1, 8, 5, 2, 9, 6, 3, 10, 17, 14, 11, 18, 15, 12, 19, 16, 13}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PerClass(2) = %v, want %v", got, want)
	}
	// Not enough examples for a third row of every class: only those that exist.
	if got := im.PerClass(3); len(got) != 25 {
		t.Fatalf("PerClass(3) on 25 examples = %d indices, want 25", len(got))
	}
}

// TestImageUndoesNormalization loads synthetic MNIST and CIFAR-10 files and
// checks that Image gives back every file byte exactly.
func TestImageUndoesNormalization(t *testing.T) {
	root := t.TempDir()
	writeMNIST(t, root, "mnist", 4, true)
	for f, b := range cifarSet(2) {
		writeFile(t, filepath.Join(root, cifarDir, f), b)
	}
	im, err := Load(root, "mnist", Train, noDownload)
	if err != nil {
		t.Fatal(err)
	}
	for i := range im.N {
		img, err := im.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		g, ok := img.(*image.Gray)
		if !ok || g.Bounds() != image.Rect(0, 0, 28, 28) {
			t.Fatalf("mnist image %d: %T %v", i, img, img.Bounds())
		}
		for p := range 784 {
			if g.Pix[p] != testPixel(i, p) {
				t.Fatalf("mnist image %d pixel %d = %d, want %d", i, p, g.Pix[p], testPixel(i, p))
			}
		}
	}
	im, err = Load(root, "cifar10", Test, noDownload)
	if err != nil {
		t.Fatal(err)
	}
	for i := range im.N {
		img, err := im.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		rgba := img.(*image.RGBA)
		for p := range 1024 {
			for c := range 3 {
				if got, want := rgba.Pix[4*p+c], testPixel(1000+i, 3*p+c); got != want {
					t.Fatalf("cifar image %d pixel %d channel %d = %d, want %d", i, p, c, got, want)
				}
			}
			if rgba.Pix[4*p+3] != 255 {
				t.Fatalf("cifar image %d pixel %d: alpha %d", i, p, rgba.Pix[4*p+3])
			}
		}
	}
	if _, err := im.Image(im.N); err == nil {
		t.Error("Image(N): want an out-of-range error")
	}
}

// TestGridSVG checks the grid's layout, captions and that each embedded PNG
// is the example enlarged with sharp (repeated) pixels.
func TestGridSVG(t *testing.T) {
	root := t.TempDir()
	for f, b := range cifarSet(2) {
		writeFile(t, filepath.Join(root, cifarDir, f), b)
	}
	im, err := Load(root, "cifar10", Train, noDownload)
	if err != nil {
		t.Fatal(err)
	}
	indices := []int{0, 1, 2, 3, 4}
	svg, err := im.GridSVG(indices, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(svg, "http") != 1 { // the xmlns only
		t.Error("the grid refers to the network")
	}
	var doc struct {
		Width  int `xml:"width,attr"`
		Height int `xml:"height,attr"`
		Groups []struct {
			Image struct {
				X      int    `xml:"x,attr"`
				Y      int    `xml:"y,attr"`
				Width  int    `xml:"width,attr"`
				Height int    `xml:"height,attr"`
				Href   string `xml:"href,attr"`
			} `xml:"image"`
			Text string `xml:"text"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
		t.Fatalf("not well-formed: %v", err)
	}
	// 3 columns × 2 rows of 64×(64+16) cells with 6 px gaps.
	if doc.Width != 3*70+6 || doc.Height != 2*86+6 || len(doc.Groups) != 5 {
		t.Fatalf("grid %dx%d with %d cells", doc.Width, doc.Height, len(doc.Groups))
	}
	names, _ := ClassNames("cifar10")
	for k, g := range doc.Groups {
		if g.Text != names[im.Labels[k]] {
			t.Errorf("cell %d caption %q, want %q", k, g.Text, names[im.Labels[k]])
		}
		if wantX, wantY := 6+(k%3)*70, 6+(k/3)*86; g.Image.X != wantX || g.Image.Y != wantY || g.Image.Width != 64 || g.Image.Height != 64 {
			t.Errorf("cell %d image at %d,%d size %dx%d", k, g.Image.X, g.Image.Y, g.Image.Width, g.Image.Height)
		}
		data, ok := strings.CutPrefix(g.Image.Href, "data:image/png;base64,")
		if !ok {
			t.Fatalf("cell %d: href %.40q is not a PNG data URI", k, g.Image.Href)
		}
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if dec.Bounds() != image.Rect(0, 0, 64, 64) {
			t.Fatalf("cell %d PNG is %v, want 64x64", k, dec.Bounds())
		}
		src, _ := im.Image(k)
		for _, p := range [][2]int{{0, 0}, {1, 1}, {63, 63}, {10, 41}} {
			r1, g1, b1, _ := dec.At(p[0], p[1]).RGBA()
			r2, g2, b2, _ := src.At(p[0]/2, p[1]/2).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				t.Fatalf("cell %d pixel %v differs from the source's %v", k, p, [2]int{p[0] / 2, p[1] / 2})
			}
		}
	}
	if !regexp.MustCompile(`^<svg xmlns="http://www.w3.org/2000/svg"`).MatchString(svg) {
		t.Error("not a standalone SVG document")
	}
	if _, err := im.GridSVG(nil, 3, 2); err == nil {
		t.Error("GridSVG with no examples: want an error")
	}
}
