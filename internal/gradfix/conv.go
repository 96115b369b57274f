package gradfix

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
)

// Conv2D is a stride-1, "same"-padded 2-D convolution of x [batch, height,
// width, inChannels] with kernel [kh, kw, inChannels, outChannels] (odd kh, kw).
//
// On simplego it is im2col: zero-pad with Concatenate, kh·kw shifted Slices
// concatenated on the channel axis, one matrix product. simplego's native
// convolution is a naive single-threaded loop (~13× slower forward) and its
// gradient needs the Reverse op, which simplego lacks. Elsewhere it is GoMLX's
// native Convolve.
func Conv2D(x, kernel *Node) *Node {
	if x.Rank() != 4 || kernel.Rank() != 4 || kernel.Shape().Dimensions[2] != x.Shape().Dimensions[3] {
		panic(fmt.Sprintf("gradfix.Conv2D: want x [B,H,W,C] and kernel [kh,kw,C,out], got %s and %s", x.Shape(), kernel.Shape()))
	}
	kh, kw := kernel.Shape().Dimensions[0], kernel.Shape().Dimensions[1]
	if kh%2 == 0 || kw%2 == 0 {
		panic(fmt.Sprintf("gradfix.Conv2D: kernel %dx%d: only odd sizes have symmetric same padding", kh, kw))
	}
	if !onSimpleGo(x) {
		return Convolve(x, kernel).Strides(1).PadSame().Done()
	}
	return im2colConv2D(x, kernel)
}

func im2colConv2D(x, kernel *Node) *Node {
	dims := x.Shape().Dimensions
	b, h, w, c := dims[0], dims[1], dims[2], dims[3]
	kd := kernel.Shape().Dimensions
	kh, kw, out := kd[0], kd[1], kd[3]
	padded := padAxis(padAxis(x, 1, kh/2, kh/2), 2, kw/2, kw/2)
	patches := make([]*Node, 0, kh*kw)
	for dy := range kh {
		for dx := range kw {
			patches = append(patches, Slice(padded, AxisRange(), AxisRange(dy, dy+h), AxisRange(dx, dx+w), AxisRange()))
		}
	}
	// Patch features are ordered (dy, dx, channel), as kernel's row-major [kh, kw, C] prefix.
	cols := Reshape(Concatenate(patches, 3), b*h*w, kh*kw*c)
	y := Dot(cols, Reshape(kernel, kh*kw*c, out))
	return Reshape(y, b, h, w, out)
}

// MaxPool2x2 is a 2×2, stride-2 max-pool of x [batch, height, width, channels]
// (even height and width). On simplego it is Reshape + ReduceMax (28× faster
// than simplego's pooling, and its gradient exists: the stock one needs
// SelectAndScatterMax). Elsewhere it is GoMLX's native MaxPool.
//
// At ties both formulations pass the gradient to every maximal element of the
// window only in ReduceMax's way (see graph.ReduceMax); ties are measure-zero
// for real-valued activations.
func MaxPool2x2(x *Node) *Node {
	dims := x.Shape().Dimensions
	if x.Rank() != 4 || dims[1]%2 != 0 || dims[2]%2 != 0 {
		panic(fmt.Sprintf("gradfix.MaxPool2x2: want x [B,H,W,C] with even H and W, got %s", x.Shape()))
	}
	if !onSimpleGo(x) {
		return MaxPool(x).Window(2).Strides(2).Done()
	}
	b, h, w, c := dims[0], dims[1], dims[2], dims[3]
	return ReduceMax(Reshape(x, b, h/2, 2, w/2, 2, c), 2, 4)
}
