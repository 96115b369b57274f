// Package gradfix makes GoMLX v0.26.0 models trainable, and fast, on the
// pure-Go simplego backend. Install (called once by internal/backend) replaces
// three entries of graph.VJPRegistration:
//
//   - Dot (rank-2 × rank-2) and DotGeneral: the stock gradients are built from
//     broadcast-multiply-reduce and materialise [batch, in, out]-sized tensors
//     (an MLP step 10× slower, a BERT layer step 30× more memory). The
//     replacement is the usual transpose rule: each input's gradient is one
//     DotGeneral of the output gradient with the other input. It has strictly
//     fewer FLOPs than the stock graph, so it is used on every backend.
//   - Slice: the stock gradient uses Pad, which simplego lacks. The replacement
//     places the output gradient among zero blocks with Concatenate. simplego
//     only; XLA keeps the stock Pad.
//
// DotGeneral's and Slice's parameters live in unexported structs of the graph
// package; they are read with read-only reflection (no unsafe). Install checks
// on a tiny graph that the reading works and fails loudly otherwise, and every
// later failure is counted (Fallbacks) so tests can insist on zero: a GoMLX
// upgrade that renames those fields cannot slip through silently.
//
// Conv2D and MaxPool2x2 pick an im2col / reshape+ReduceMax formulation on
// simplego (which lacks the Reverse and SelectAndScatterMax ops their stock
// gradients need) and GoMLX's native ops elsewhere.
//
// Rsqrt and Clamp have no gradient in v0.26.0 on any backend: use 1/Sqrt and Min/Max.
package gradfix

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's own idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

var (
	installOnce sync.Once
	installErr  error
	fallbacks   atomic.Int64

	// stock keeps the original VJPs, for fallbacks and for benchmarks/tests comparing against them.
	stock = map[NodeType]VJP{}
)

// fixed lists the node types whose gradient Install replaces.
var fixed = []NodeType{NodeTypeDot, NodeTypeDotGeneral, NodeTypeSlice}

// Install replaces the gradients (once per process) after checking that the
// parameters of DotGeneral and Slice nodes can be read. It is idempotent.
func Install() error {
	installOnce.Do(func() {
		if err := selfCheck(); err != nil {
			installErr = fmt.Errorf("gradfix: cannot read GoMLX node parameters (is github.com/gomlx/gomlx still pinned at v0.26.0?): %w", err)
			return
		}
		for _, t := range fixed {
			stock[t] = VJPRegistration[t]
		}
		VJPRegistration[NodeTypeDot] = dotVJP
		VJPRegistration[NodeTypeDotGeneral] = dotGeneralVJP
		VJPRegistration[NodeTypeSlice] = sliceVJP
	})
	return installErr
}

// Installed reports whether Install has replaced the gradients.
func Installed() bool { return VJPRegistration[NodeTypeDotGeneral] != nil && len(stock) == len(fixed) }

// Fallbacks is how many gradients fell back to the stock definition because a
// node's parameters could not be read. Anything but 0 is a bug.
func Fallbacks() int64 { return fallbacks.Load() }

// UseStock restores GoMLX's own gradients (of the given node types, or all
// that Install replaced) until the returned function is called. For
// benchmarks and tests that compare against them; not concurrency safe.
func UseStock(types ...NodeType) (restore func()) {
	if err := Install(); err != nil {
		panic(err)
	}
	if len(types) == 0 {
		types = fixed
	}
	saved := map[NodeType]VJP{}
	for _, t := range types {
		saved[t] = VJPRegistration[t]
		VJPRegistration[t] = stock[t]
	}
	return func() {
		for t, fn := range saved {
			VJPRegistration[t] = fn
		}
	}
}

// dotAxes are the parameters of a DotGeneral node.
type dotAxes struct {
	lhsContracting, lhsBatch, rhsContracting, rhsBatch []int
}

// nodeParams returns the struct holding n's parameters (graph.nodeInputsXxx).
func nodeParams(n *Node) (reflect.Value, error) {
	v := reflect.ValueOf(n).Elem().FieldByName("inputs")
	if !v.IsValid() || v.Kind() != reflect.Interface || v.IsNil() {
		return reflect.Value{}, fmt.Errorf("node %s: no \"inputs\" field", n.Type())
	}
	v = v.Elem()
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("node %s: \"inputs\" is %s, not a pointer to struct", n.Type(), v.Kind())
	}
	return v.Elem(), nil
}

// intsField reads an []int field of a parameters struct.
func intsField(s reflect.Value, name string) ([]int, error) {
	f := s.FieldByName(name)
	if !f.IsValid() || f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Int {
		return nil, fmt.Errorf("%s has no []int field %q", s.Type(), name)
	}
	out := make([]int, f.Len())
	for i := range out {
		out[i] = int(f.Index(i).Int())
	}
	return out, nil
}

func readDotAxes(n *Node) (dotAxes, error) {
	var ax dotAxes
	s, err := nodeParams(n)
	if err != nil {
		return ax, err
	}
	for _, f := range []struct {
		name string
		dst  *[]int
	}{
		{"lhsContractingAxes", &ax.lhsContracting}, {"lhsBatchAxes", &ax.lhsBatch},
		{"rhsContractingAxes", &ax.rhsContracting}, {"rhsBatchAxes", &ax.rhsBatch},
	} {
		if *f.dst, err = intsField(s, f.name); err != nil {
			return ax, err
		}
	}
	return ax, nil
}

type sliceParams struct{ starts, limits, strides []int }

func readSliceParams(n *Node) (sliceParams, error) {
	var p sliceParams
	s, err := nodeParams(n)
	if err != nil {
		return p, err
	}
	if p.starts, err = intsField(s, "starts"); err != nil {
		return p, err
	}
	if p.limits, err = intsField(s, "limits"); err != nil {
		return p, err
	}
	if p.strides, err = intsField(s, "strides"); err != nil {
		return p, err
	}
	return p, nil
}

// selfCheck builds (without running) a DotGeneral and a Slice and reads their parameters back.
func selfCheck() error {
	b, err := simplego.New("")
	if err != nil {
		return err
	}
	defer b.Finalize()
	g := NewGraph(b, "gradfix_selfcheck")
	defer g.Finalize()
	return tryBuild(func() error {
		lhs := Parameter(g, "lhs", shapes.Make(dtypes.Float32, 2, 3, 4))
		rhs := Parameter(g, "rhs", shapes.Make(dtypes.Float32, 2, 4, 5))
		dot := DotGeneral(lhs, []int{2}, []int{0}, rhs, []int{1}, []int{0})
		ax, err := readDotAxes(dot)
		if err != nil {
			return err
		}
		want := dotAxes{[]int{2}, []int{0}, []int{1}, []int{0}}
		if !slices.Equal(ax.lhsContracting, want.lhsContracting) || !slices.Equal(ax.lhsBatch, want.lhsBatch) ||
			!slices.Equal(ax.rhsContracting, want.rhsContracting) || !slices.Equal(ax.rhsBatch, want.rhsBatch) {
			return fmt.Errorf("DotGeneral axes read as %+v, want %+v", ax, want)
		}
		sl := Slice(lhs, AxisRange(), AxisRange(1, 3), AxisRange(0, 4).Stride(2))
		p, err := readSliceParams(sl)
		if err != nil {
			return err
		}
		if !slices.Equal(p.starts, []int{0, 1, 0}) || !slices.Equal(p.limits, []int{2, 3, 4}) || !slices.Equal(p.strides, []int{1, 1, 2}) {
			return fmt.Errorf("Slice parameters read as %+v", p)
		}
		return nil
	})
}

// tryBuild runs fn, turning GoMLX's panics into errors.
func tryBuild(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return fn()
}

// dotGeneralVJP: for out = DotGeneral(lhs, rhs), each input's gradient is one
// DotGeneral of v with the other input, contracting the other input's free
// ("cross") axes, then a transpose back to the input's axis order when needed.
func dotGeneralVJP(node *Node, v []*Node, outShape shapes.Shape) []*Node {
	ax, err := readDotAxes(node)
	if err != nil {
		fallbacks.Add(1)
		return stock[NodeTypeDotGeneral](node, v, outShape)
	}
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	return dotGeneralGradients(lhs, rhs, v[0], ax)
}

func dotGeneralGradients(lhs, rhs, v *Node, ax dotAxes) []*Node {
	nb := len(ax.lhsBatch)
	lhsCross := crossAxes(lhs.Rank(), ax.lhsContracting, ax.lhsBatch)
	rhsCross := crossAxes(rhs.Rank(), ax.rhsContracting, ax.rhsBatch)
	vBatch := seq(0, nb)
	vLhsCross := seq(nb, len(lhsCross))               // v's axes that came from lhs
	vRhsCross := seq(nb+len(lhsCross), len(rhsCross)) // v's axes that came from rhs
	dLhs := inputGradient(lhs.Rank(), ax.lhsBatch, ax.lhsContracting, lhsCross, ax.rhsContracting,
		v, vBatch, vRhsCross, vLhsCross, rhs, ax.rhsBatch, rhsCross)
	dRhs := inputGradient(rhs.Rank(), ax.rhsBatch, ax.rhsContracting, rhsCross, ax.lhsContracting,
		v, vBatch, vLhsCross, vRhsCross, lhs, ax.lhsBatch, lhsCross)
	return []*Node{dLhs, dRhs}
}

// inputGradient computes the gradient of one input ("this") of a DotGeneral.
// this's contracting axes pair with other's otherContracting axes (same order);
// v's vOtherCross axes are contracted with other's otherCross axes. The product
// is built in whichever operand order needs no transpose, if one does.
func inputGradient(rank int, thisBatch, thisContracting, thisCross, otherContracting []int,
	v *Node, vBatch, vOtherCross, vThisCross []int, other *Node, otherBatch, otherCross []int) *Node {
	nb := len(thisBatch)
	// Position, among other's remaining (= contracting) axes in ascending order, of each of this's contracting axes.
	sortedOther := slices.Clone(otherContracting)
	slices.Sort(sortedOther)
	contractPos := make([]int, len(thisContracting))
	for i, a := range otherContracting {
		contractPos[i] = slices.Index(sortedOther, a)
	}
	// Order A: DotGeneral(v, other) -> [batch, thisCross..., contracting(sorted by other's axis)...].
	// Order B: DotGeneral(other, v) -> [batch, contracting(sorted)..., thisCross...].
	permA, permB := make([]int, rank), make([]int, rank)
	for i, a := range thisBatch {
		permA[a], permB[a] = i, i
	}
	for j, a := range thisCross {
		permA[a], permB[a] = nb+j, nb+len(thisContracting)+j
	}
	for i, a := range thisContracting {
		permA[a], permB[a] = nb+len(thisCross)+contractPos[i], nb+contractPos[i]
	}
	if isIdentity(permB) && !isIdentity(permA) {
		return DotGeneral(other, otherCross, otherBatch, v, vOtherCross, vBatch)
	}
	grad := DotGeneral(v, vOtherCross, vBatch, other, otherCross, otherBatch)
	if !isIdentity(permA) {
		grad = TransposeAllAxes(grad, permA...)
	}
	return grad
}

// dotVJP replaces the rank-2 × rank-2 case of graph.Dot's gradient; other ranks keep the stock one.
func dotVJP(node *Node, v []*Node, outShape shapes.Shape) []*Node {
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	if lhs.Rank() != 2 || rhs.Rank() != 2 {
		return stock[NodeTypeDot](node, v, outShape)
	}
	return dotGeneralGradients(lhs, rhs, v[0], dotAxes{lhsContracting: []int{1}, rhsContracting: []int{0}})
}

// sliceVJP places v where the slice came from, among zeros, without Pad (simplego only).
func sliceVJP(node *Node, v []*Node, outShape shapes.Shape) []*Node {
	if !onSimpleGo(node) {
		return stock[NodeTypeSlice](node, v, outShape)
	}
	p, err := readSliceParams(node)
	if err != nil {
		fallbacks.Add(1)
		return stock[NodeTypeSlice](node, v, outShape)
	}
	x := node.Inputs()[0]
	return []*Node{unslice(v[0], x.Shape(), p)}
}

// unslice is the adjoint of Slice(x, starts, limits, strides): v spread back into x's shape.
func unslice(v *Node, xShape shapes.Shape, p sliceParams) *Node {
	g := v.Graph()
	grad := v
	for axis := range xShape.Rank() {
		n := grad.Shape().Dimensions[axis]
		stride := max(p.strides[axis], 1)
		if stride > 1 && n > 1 {
			// Interleave stride-1 zeros after each element: [.., n, ..] -> [.., n*stride, ..], then drop the tail.
			expanded := InsertAxes(grad, axis+1)
			zerosShape := expanded.Shape().Clone()
			zerosShape.Dimensions[axis+1] = stride - 1
			expanded = Concatenate([]*Node{expanded, Zeros(g, zerosShape)}, axis+1)
			dims := slices.Clone(grad.Shape().Dimensions)
			dims[axis] = n * stride
			grad = Reshape(expanded, dims...)
			grad = SliceAxis(grad, axis, AxisRange(0, (n-1)*stride+1))
		}
		span := grad.Shape().Dimensions[axis]
		before, after := p.starts[axis], xShape.Dimensions[axis]-p.starts[axis]-span
		grad = padAxis(grad, axis, before, after)
	}
	return grad
}

// padAxis adds zeros before and after x along axis.
func padAxis(x *Node, axis, before, after int) *Node {
	if before == 0 && after == 0 {
		return x
	}
	parts := make([]*Node, 0, 3)
	zeros := func(n int) *Node {
		s := x.Shape().Clone()
		s.Dimensions[axis] = n
		return Zeros(x.Graph(), s)
	}
	if before > 0 {
		parts = append(parts, zeros(before))
	}
	parts = append(parts, x)
	if after > 0 {
		parts = append(parts, zeros(after))
	}
	return Concatenate(parts, axis)
}

func crossAxes(rank int, contracting, batch []int) []int {
	var out []int
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

func seq(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}

func isIdentity(perm []int) bool {
	for i, p := range perm {
		if i != p {
			return false
		}
	}
	return true
}

// onSimpleGo reports whether n's graph is built for GoMLX's pure-Go backend.
func onSimpleGo(n *Node) bool {
	_, ok := n.Graph().Backend().(*simplego.Backend)
	return ok
}
