package lora

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// FuzzAdapterWeights: the adapter weights reader never panics, and what it
// accepts has exactly the bytes its shapes need.
func FuzzAdapterWeights(f *testing.F) {
	w := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := tensors.FromFlatDataAndDimensions([]float32{7, 8}, 2)
	good, err := encodeSafetensors([]string{"fc1/lora_A", "fc1/lora_B"}, []*tensors.Tensor{w, b})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	for _, h := range []string{
		`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}`,
		`{"a":{"dtype":"F32","shape":[0,-1],"data_offsets":[0,0]}}`, // a zero once hid the negative
		`{"a":{"dtype":"F32","shape":[0,10],"data_offsets":[0,0]}}`, // no elements: nothing to copy
		`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`,
		`{"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"__metadata__":{"writer":"x"}}`,
	} {
		f.Add(append(append([]byte{byte(len(h)), 0, 0, 0, 0, 0, 0, 0}, h...), make([]byte, 16)...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := decodeSafetensors(data)
		if err != nil {
			return
		}
		for name, x := range out {
			if x.DType() == dtypes.InvalidDType || x.Shape().Size() < 0 {
				t.Fatalf("%s: %s", name, x.Shape())
			}
		}
	})
}
