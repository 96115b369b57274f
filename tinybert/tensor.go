package tinybert

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/morphreuse/morphreuse-go/internal/dims"

	"github.com/x448/float16"
)

// DType of a checkpoint tensor once loaded. Checkpoints may store F16/BF16, but they are
// widened to Float32 on load (exactly, no rounding) since the model computes in float32.
type DType uint8

const (
	Float32 DType = iota + 1
	Int64
	Float64 // only for reference data such as goldens.safetensors; models use Float32
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int64:
		return "int64"
	case Float64:
		return "float64"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Tensor is a format-neutral, dense, C-order (row-major) tensor read from a checkpoint.
// Exactly one of F32 / I64 / F64 holds the data, according to DType.
type Tensor struct {
	DType DType
	Shape []int // HF layout; Linear weights are [out, in]
	F32   []float32
	I64   []int64
	F64   []float64
}

// Len is the number of elements (1 for a scalar).
func (t *Tensor) Len() int {
	switch t.DType {
	case Int64:
		return len(t.I64)
	case Float64:
		return len(t.F64)
	}
	return len(t.F32)
}

func (t *Tensor) String() string {
	return fmt.Sprintf("%s%v", t.DType, t.Shape)
}

// StateDict maps checkpoint names (e.g. "bert.encoder.layer.0.attention.self.query.weight")
// to tensors, like a PyTorch state_dict.
type StateDict map[string]*Tensor

// Names returns the tensor names, sorted.
func (sd StateDict) Names() []string {
	names := make([]string, 0, len(sd))
	for name := range sd {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// storageDType is how elements are stored on disk; several widen to the same DType.
type storageDType uint8

const (
	stF32 storageDType = iota + 1
	stF16
	stBF16
	stI64
	stF64
)

func (s storageDType) size() int {
	switch s {
	case stF16, stBF16:
		return 2
	case stF32:
		return 4
	case stI64, stF64:
		return 8
	}
	return 0
}

func (s storageDType) dtype() DType {
	switch s {
	case stI64:
		return Int64
	case stF64:
		return Float64
	}
	return Float32
}

func (s storageDType) String() string {
	switch s {
	case stF32:
		return "F32"
	case stF16:
		return "F16"
	case stBF16:
		return "BF16"
	case stI64:
		return "I64"
	case stF64:
		return "F64"
	}
	return "?"
}

// decoded holds one storage (or safetensors blob) widened to its in-memory dtype.
type decoded struct {
	f32 []float32
	i64 []int64
	f64 []float64
}

// decodeLE converts little-endian element bytes; len(b) must be a multiple of the size.
func decodeLE(st storageDType, b []byte) decoded {
	n := len(b) / st.size()
	switch st {
	case stF32:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return decoded{f32: out}
	case stF16:
		out := make([]float32, n)
		for i := range out {
			out[i] = float16.Frombits(binary.LittleEndian.Uint16(b[2*i:])).Float32()
		}
		return decoded{f32: out}
	case stBF16:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
		return decoded{f32: out}
	case stI64:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return decoded{i64: out}
	case stF64:
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return decoded{f64: out}
	}
	return decoded{}
}

// maxElements bounds any element count computed from a file before comparing it with the
// file's size, so products of dimensions cannot overflow.
const maxElements = 1 << 40

// numElements multiplies dims, refusing negative dims and products above maxElements.
func numElements(shape []int) (int, error) {
	n, err := dims.Count(shape, maxElements)
	return int(n), err
}
