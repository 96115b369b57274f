package datasets

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
)

// classNames are the image sets' class names, in label order (the publishers').
var classNames = map[string][]string{
	"mnist":         {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
	"fashion-mnist": {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
	"cifar10":       {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"},
}

// ClassNames returns the names of an image set's ten classes, indexed by label.
func ClassNames(name string) ([]string, error) {
	set, err := lookupImageSet(name)
	if err != nil {
		return nil, err
	}
	return append([]string(nil), classNames[set.name]...), nil
}

// PerClass returns the indices of the first k examples of every class, row
// by row: the first example of classes 0..9, then the second, and so on (a
// class with fewer than k examples leaves its later slots out). Laid out 10
// per row, each column of a grid is then one class.
func (im *Images) PerClass(k int) []int {
	seen := make([][]int, numClasses)
	for i := 0; i < im.N; i++ {
		if c := im.Labels[i]; c >= 0 && int(c) < numClasses && len(seen[c]) < k {
			seen[c] = append(seen[c], i)
		}
	}
	var out []int
	for row := range k {
		for c := range numClasses {
			if row < len(seen[c]) {
				out = append(out, seen[c][row])
			}
		}
	}
	return out
}

// Image returns example i as an image with its original 8-bit pixel values:
// the normalisation is undone with im.Norm ((x·std + mean)·255, rounded),
// which gives back the file's bytes exactly. Gray for one channel, RGBA for three.
func (im *Images) Image(i int) (image.Image, error) {
	if i < 0 || i >= im.N {
		return nil, fmt.Errorf("datasets: example %d of %s/%s out of range [0,%d)", i, im.Name, im.Split, im.N)
	}
	if err := im.Norm.check(im.Channels); err != nil {
		return nil, err
	}
	h, w, c := im.Height, im.Width, im.Channels
	px := im.Pixels[i*h*w*c : (i+1)*h*w*c]
	byteOf := func(x float32, ch int) uint8 {
		v := math.Round((float64(x)*float64(im.Norm.Std[ch]) + float64(im.Norm.Mean[ch])) * 255)
		return uint8(max(0, min(255, v)))
	}
	rect := image.Rect(0, 0, w, h)
	switch c {
	case 1:
		g := image.NewGray(rect)
		for j, x := range px {
			g.Pix[j] = byteOf(x, 0)
		}
		return g, nil
	case 3:
		rgba := image.NewRGBA(rect)
		for p := range h * w {
			for ch := range 3 {
				rgba.Pix[4*p+ch] = byteOf(px[3*p+ch], ch)
			}
			rgba.Pix[4*p+3] = 255
		}
		return rgba, nil
	}
	return nil, fmt.Errorf("datasets: %d channels: only 1 (gray) and 3 (RGB) can be drawn", c)
}

// scaled enlarges an image by an integer factor, nearest neighbour (pixels stay sharp).
func scaled(src image.Image, factor int) image.Image {
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx()*factor, b.Dy()*factor))
	for y := range b.Dy() * factor {
		for x := range b.Dx() * factor {
			r, g, bl, a := src.At(b.Min.X+x/factor, b.Min.Y+y/factor).RGBA()
			dst.SetRGBA(x, y, color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)})
		}
	}
	return dst
}

// GridSVG draws examples of im (indices, e.g. from PerClass) as a grid of
// cols columns, each image enlarged scale times and captioned with its class
// name. The images are PNGs embedded as data URIs: the SVG needs no network
// and renders in notebooks and exported HTML alike.
func (im *Images) GridSVG(indices []int, cols, scale int) (string, error) {
	if len(indices) == 0 || cols <= 0 || scale <= 0 {
		return "", fmt.Errorf("datasets: GridSVG wants examples, cols > 0 and scale > 0 (got %d, %d, %d)", len(indices), cols, scale)
	}
	names, err := ClassNames(im.Name)
	if err != nil {
		return "", err
	}
	const pad, caption, fontSize = 6, 16, 11
	cellW := im.Width * scale
	cellH := im.Height*scale + caption
	cols = min(cols, len(indices))
	rows := (len(indices) + cols - 1) / cols
	width, height := cols*(cellW+pad)+pad, rows*(cellH+pad)+pad
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif" font-size="%d" role="img" aria-label="%s">`+"\n",
		width, height, width, height, fontSize, html.EscapeString(im.Name+" examples"))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	var buf bytes.Buffer
	for k, i := range indices {
		img, err := im.Image(i)
		if err != nil {
			return "", err
		}
		buf.Reset()
		if err := png.Encode(&buf, scaled(img, scale)); err != nil {
			return "", err
		}
		x, y := pad+(k%cols)*(cellW+pad), pad+(k/cols)*(cellH+pad)
		label := fmt.Sprint(im.Labels[i])
		if l := int(im.Labels[i]); l >= 0 && l < len(names) {
			label = names[l]
		}
		fmt.Fprintf(&b, `<g><title>%s #%d: %s</title><image x="%d" y="%d" width="%d" height="%d" href="data:image/png;base64,%s"/>`,
			html.EscapeString(string(im.Split)), i, html.EscapeString(label), x, y, cellW, im.Height*scale, base64.StdEncoding.EncodeToString(buf.Bytes()))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text></g>`+"\n", x+cellW/2, y+im.Height*scale+caption-4, html.EscapeString(label))
	}
	b.WriteString("</svg>\n")
	return b.String(), nil
}
