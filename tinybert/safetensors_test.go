package tinybert

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readST(b []byte) (StateDict, error) { return ReadSafetensors(bytes.NewReader(b), int64(len(b))) }

func smallSafetensors() []byte {
	return safetensorsBytes([]stEntry{
		{name: "w", dtype: "F32", shape: []int{2, 3}, data: f32Bytes(1, 2, 3, 4, 5, 6)},
		{name: "ids", dtype: "I64", shape: []int{3}, data: i64Bytes(7, -8, 1<<40)},
		{name: "empty", dtype: "F32", shape: []int{0, 4}, data: nil},
		{name: "scalar", dtype: "F32", shape: []int{}, data: f32Bytes(-0.5)},
	})
}

func TestSafetensorsRoundTrip(t *testing.T) {
	sd, err := readST(smallSafetensors())
	if err != nil {
		t.Fatal(err)
	}
	if w := sd["w"]; !slices.Equal(w.F32, []float32{1, 2, 3, 4, 5, 6}) || !slices.Equal(w.Shape, []int{2, 3}) {
		t.Errorf("w = %v %v", w, w.F32)
	}
	if ids := sd["ids"]; ids.DType != Int64 || !slices.Equal(ids.I64, []int64{7, -8, 1 << 40}) {
		t.Errorf("ids = %v", ids.I64)
	}
	if e := sd["empty"]; e.Len() != 0 || !slices.Equal(e.Shape, []int{0, 4}) {
		t.Errorf("empty = %v", e)
	}
	if s := sd["scalar"]; len(s.Shape) != 0 || s.F32[0] != -0.5 {
		t.Errorf("scalar = %v", s)
	}
}

func TestSafetensorsHalfTypes(t *testing.T) {
	le16 := func(xs ...uint16) []byte {
		b := make([]byte, 2*len(xs))
		for i, x := range xs {
			binary.LittleEndian.PutUint16(b[2*i:], x)
		}
		return b
	}
	sd, err := readST(safetensorsBytes([]stEntry{
		// F16: 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal)
		{name: "h", dtype: "F16", shape: []int{4}, data: le16(0x3C00, 0xC000, 0x7BFF, 0x0001)},
		// BF16: 1.0, -3.0 (0xC040), pi truncated (0x4049)
		{name: "b", dtype: "BF16", shape: []int{3}, data: le16(0x3F80, 0xC040, 0x4049)},
		{name: "d", dtype: "F64", shape: []int{1}, data: binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.Pi))},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := sd["h"].F32; !slices.Equal(got, []float32{1, -2, 65504, float32(math.Ldexp(1, -24))}) || sd["h"].DType != Float32 {
		t.Errorf("F16 -> %v", got)
	}
	if got := sd["b"].F32; !slices.Equal(got, []float32{1, -3, math.Float32frombits(0x40490000)}) {
		t.Errorf("BF16 -> %v", got)
	}
	if got := sd["d"]; got.DType != Float64 || got.F64[0] != math.Pi {
		t.Errorf("F64 -> %v", got)
	}
}

func TestSafetensorsTruncated(t *testing.T) {
	full, err := os.ReadFile(filepath.Join(fixtureDir, SafetensorsFile))
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.LittleEndian.Uint64(full))
	for _, cut := range []int{0, 1, 7, 8, 9, 8 + n/2, 8 + n - 1, 8 + n, 8 + n + 1, len(full) / 2, len(full) - 1} {
		_, err := readST(full[:cut])
		if err == nil {
			t.Errorf("file cut at %d of %d accepted", cut, len(full))
		}
	}
	// Extra bytes after the data are refused too (the reference library does).
	if _, err := readST(append(slices.Clone(full), 0)); err == nil || !strings.Contains(err.Error(), "cover") {
		t.Errorf("trailing byte: %v", err)
	}
}

func TestSafetensorsBadHeaders(t *testing.T) {
	data := f32Bytes(1, 2, 3, 4)
	cases := map[string]struct {
		file []byte
		want string
	}{
		"absurd header length": {binary.LittleEndian.AppendUint64(nil, 1<<62), "exceeds the 100 MB limit"},
		"header past the end":  {append(binary.LittleEndian.AppendUint64(nil, 1000), `{"a":1}`...), "only 7 bytes follow"},
		"overlap": {safetensorsBytes([]stEntry{
			{name: "a", dtype: "F32", shape: []int{2}, data: data[:8], offsets: []int64{0, 8}},
			{name: "b", dtype: "F32", shape: []int{2}, data: data[8:], offsets: []int64{4, 12}},
		}), "overlap"},
		"out of range": {safetensorsBytes([]stEntry{
			{name: "a", dtype: "F32", shape: []int{4}, data: data, offsets: []int64{8, 24}},
		}), "go past"},
		"gap": {safetensorsBytes([]stEntry{
			{name: "a", dtype: "F32", shape: []int{2}, data: data, offsets: []int64{8, 16}},
		}), "gap"},
		"byte count": {safetensorsBytes([]stEntry{
			{name: "a", dtype: "F32", shape: []int{3}, data: data},
		}), "needs 12 bytes"},
		"reversed offsets": {safetensorsBytes([]stEntry{
			{name: "a", dtype: "F32", shape: []int{0}, data: nil, offsets: []int64{4, 0}},
		}), "0 <= begin <= end"},
		"negative dim": {safetensorsBytes([]stEntry{
			{name: "a", dtype: "F32", shape: []int{-1, -4}, data: data},
		}), "negative dimension"},
		"huge dims": {safetensorsBytes([]stEntry{
			{name: "a", dtype: "F32", shape: []int{1 << 30, 1 << 30, 1 << 30}, data: data},
		}), "more than 1099511627776 elements"},
		"unsupported dtype": {safetensorsBytes([]stEntry{
			{name: "a", dtype: "I32", shape: []int{4}, data: data},
		}), `dtype "I32" not supported`},
		"duplicate name":   {rawSafetensors([]byte(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`), data[:4]), "twice"},
		"missing field":    {rawSafetensors([]byte(`{"a":{"dtype":"F32","shape":[1]}}`), data[:4]), "needs dtype, shape and data_offsets"},
		"not json":         {rawSafetensors([]byte(`{"a":`), nil), "JSON"},
		"not an object":    {rawSafetensors([]byte(`[1,2]`), nil), "not a JSON object"},
		"trailing garbage": {rawSafetensors([]byte(`{} x`), nil), "trailing"},
		"invalid utf8":     {rawSafetensors([]byte("{\"\xff\":1}"), nil), "UTF-8"},
		"bad metadata":     {rawSafetensors([]byte(`{"__metadata__":{"a":1}}`), nil), "__metadata__"},
		"float shape":      {rawSafetensors([]byte(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`), data[:4]), "bad header entry"},
		"three offsets":    {rawSafetensors([]byte(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`), data[:4]), "[begin, end]"},
		"short file":       {[]byte{1, 2, 3}, "too short"},
	}
	for name, c := range cases {
		_, err := readST(c.file)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want one containing %q", name, err, c.want)
		}
	}
}
