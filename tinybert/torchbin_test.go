package tinybert

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readTorch(b []byte) (StateDict, error) { return ReadTorch(bytes.NewReader(b), int64(len(b))) }

// stridedTensors: a 2x3 matrix stored transposed (as x.t() would be saved), a slice
// at a storage offset sharing the same storage, and an int64 vector.
var stridedTensors = []testTensor{
	// storage s0 = [0 1 2 3 4 5] viewed as 2x3 with strides (1, 2): [[0 2 4] [1 3 5]]
	{name: "t", key: "s0", class: "FloatStorage", numel: 6, size: []int{2, 3}, stride: []int{1, 2}},
	// same storage, offset 4, size 2: [4 5]
	{name: "tail", key: "s0", class: "FloatStorage", numel: 6, offset: 4, size: []int{2}, stride: []int{1}},
	{name: "ids", key: "s1", class: "LongStorage", numel: 3, size: []int{3}, stride: []int{1}},
	// size-1 dims may have any stride and are still contiguous
	{name: "row", key: "s0", class: "FloatStorage", numel: 6, offset: 1, size: []int{1, 3}, stride: []int{99, 1}},
	{name: "empty", key: "s0", class: "FloatStorage", numel: 6, offset: 6, size: []int{0}, stride: []int{1}},
	// empty too, but walking its strided index space would take 2^40 steps (fuzz find)
	{name: "hugeEmpty", key: "s0", class: "FloatStorage", numel: 6, size: []int{1 << 20, 1 << 20, 0}, stride: []int{1, 1, 5}},
}

var stridedStorages = map[string][]byte{"s0": f32Bytes(0, 1, 2, 3, 4, 5), "s1": i64Bytes(-1, 0, 1<<62)}

func checkStrided(t *testing.T, sd StateDict) {
	t.Helper()
	if got := sd["t"]; !slices.Equal(got.F32, []float32{0, 2, 4, 1, 3, 5}) || !slices.Equal(got.Shape, []int{2, 3}) {
		t.Errorf("transposed: %v %v", got, got.F32)
	}
	if got := sd["tail"]; !slices.Equal(got.F32, []float32{4, 5}) {
		t.Errorf("offset view: %v", got.F32)
	}
	if got := sd["ids"]; got.DType != Int64 || !slices.Equal(got.I64, []int64{-1, 0, 1 << 62}) {
		t.Errorf("ids: %v", got.I64)
	}
	if got := sd["row"]; !slices.Equal(got.F32, []float32{1, 2, 3}) {
		t.Errorf("row: %v", got.F32)
	}
	for _, name := range []string{"empty", "hugeEmpty"} {
		if got := sd[name]; got.Len() != 0 || got.DType != Float32 {
			t.Errorf("%s: %v", name, got)
		}
	}
	// Copies, not aliases: changing one tensor leaves the others alone.
	sd["t"].F32[4] = 100
	if sd["tail"].F32[0] != 4 {
		t.Error("tensors share memory")
	}
}

func TestTorchZipStrides(t *testing.T) {
	z := torchZip(t, "archive", stateDictPickle(stridedTensors, false), stridedStorages)
	sd, err := readTorch(z)
	if err != nil {
		t.Fatal(err)
	}
	checkStrided(t, sd)
}

func TestTorchLegacyStrides(t *testing.T) {
	l := torchLegacy(stateDictPickle(stridedTensors, true), []string{"s0", "s1"}, []int{6, 3}, stridedStorages)
	sd, err := readTorch(l)
	if err != nil {
		t.Fatal(err)
	}
	checkStrided(t, sd)
}

func TestTorchOtherDTypesAndWrappers(t *testing.T) {
	p := &pickleWriter{}
	// A plain dict (recent save_pretrained) holding a Parameter of a HalfStorage, a
	// BFloat16Storage tensor via the old _rebuild_tensor, and a DoubleStorage tensor.
	p.proto().op('}').mark()
	p.str("h").global("torch._utils", "_rebuild_parameter").mark()
	p.global("torch._utils", "_rebuild_tensor_v2").mark()
	p.mark().str("storage").global("torch", "HalfStorage").str("0").str("cuda:0").int(2).op('t', 'Q')
	p.int(0).ints([]int{2}).ints([]int{1}).op(0x88).op('}').op('t', 'R')
	p.op(0x89).op('}').op('t', 'R')
	p.str("b").global("torch._utils", "_rebuild_tensor").mark()
	p.mark().str("storage").global("torch", "BFloat16Storage").str("1").str("cpu").int(1).op('t', 'Q')
	p.int(0).ints([]int{1}).ints([]int{1}).op('t', 'R')
	p.str("d").global("torch._utils", "_rebuild_tensor_v2").mark()
	p.mark().str("storage").global("torch", "DoubleStorage").str("2").str("cpu").int(1).op('t', 'Q')
	p.int(0).op(')', ')').op(0x89).op('}').op('}').op('t', 'R') // a scalar, with metadata dict
	p.op('u').stop()
	z := torchZip(t, "weird-prefix", p.Bytes(), map[string][]byte{
		"0": {0x00, 0x3C, 0x00, 0xC0}, // F16 1, -2
		"1": {0x80, 0x3F},             // BF16 1
		"2": binary.LittleEndian.AppendUint64(nil, 0x400921FB54442D18),
	})
	sd, err := readTorch(z)
	if err != nil {
		t.Fatal(err)
	}
	if got := sd["h"]; got.DType != Float32 || !slices.Equal(got.F32, []float32{1, -2}) {
		t.Errorf("half parameter: %v %v", got, got.F32)
	}
	if got := sd["b"]; !slices.Equal(got.F32, []float32{1}) {
		t.Errorf("bf16: %v", got.F32)
	}
	if got := sd["d"]; got.DType != Float64 || len(got.Shape) != 0 || got.F64[0] != 3.141592653589793 {
		t.Errorf("double scalar: %v %v", got, got.F64)
	}
}

// hostile builds a pickle that calls module.name("echo pwned") the way exploits do.
func hostile(module, name string, stack bool) []byte {
	p := &pickleWriter{}
	p.proto()
	if stack {
		p.str(module).str(name).op(0x93)
	} else {
		p.global(module, name)
	}
	p.str("echo pwned").op(0x85, 'R').stop()
	return p.Bytes()
}

func TestTorchRefusesForeignGlobals(t *testing.T) {
	for _, g := range []struct {
		module, name string
		stack        bool
	}{
		{"os", "system", false}, {"posix", "system", false}, {"builtins", "eval", true},
		{"__builtin__", "eval", false}, {"subprocess", "Popen", true}, {"torch", "load", false},
		{"collections", "defaultdict", false}, {"torch._utils", "_rebuild_parameter_with_state", false},
	} {
		full := g.module + "." + g.name
		for format, file := range map[string][]byte{
			"zip":    torchZip(t, "archive", hostile(g.module, g.name, g.stack), nil),
			"legacy": torchLegacy(hostile(g.module, g.name, g.stack), nil, nil, nil),
		} {
			_, err := readTorch(file)
			var unsafe *UnsafePickleError
			if !errors.As(err, &unsafe) || unsafe.Global != full || !strings.Contains(err.Error(), "refusing global "+full) {
				t.Errorf("%s %s: got %v", format, full, err)
			}
		}
	}
	// A pickle where only plain data may appear (legacy magic number) refuses even
	// whitelisted globals.
	bad := append(hostile("collections", "OrderedDict", false), 0)
	if _, err := readTorch(bad); err == nil || !strings.Contains(err.Error(), "refusing global collections.OrderedDict") {
		t.Errorf("global in magic pickle: %v", err)
	}
}

func TestTorchBadTensors(t *testing.T) {
	one := func(tt testTensor, storage []byte) []byte {
		return torchZip(t, "archive", stateDictPickle([]testTensor{tt}, false), map[string][]byte{tt.key: storage})
	}
	six := f32Bytes(0, 1, 2, 3, 4, 5)
	cases := map[string]struct {
		file []byte
		want string
	}{
		"past the storage":  {one(testTensor{name: "x", key: "0", class: "FloatStorage", numel: 6, offset: 1, size: []int{2, 3}, stride: []int{3, 1}}, six), "reaches past"},
		"big stride":        {one(testTensor{name: "x", key: "0", class: "FloatStorage", numel: 6, size: []int{2, 2}, stride: []int{1 << 30, 1}}, six), "reaches past"},
		"expanded":          {one(testTensor{name: "x", key: "0", class: "FloatStorage", numel: 6, size: []int{100}, stride: []int{0}}, six), "expanded tensors"},
		"rank mismatch":     {one(testTensor{name: "x", key: "0", class: "FloatStorage", numel: 6, size: []int{6}, stride: []int{1, 1}}, six), "different ranks"},
		"storage too small": {one(testTensor{name: "x", key: "0", class: "FloatStorage", numel: 6, size: []int{6}, stride: []int{1}}, six[:20]), "has 20 bytes, expected 24"},
		"missing storage":   {torchZip(t, "archive", stateDictPickle([]testTensor{{name: "x", key: "0", class: "FloatStorage", numel: 1, size: []int{1}, stride: []int{1}}}, false), nil), "missing"},
		"int storage":       {one(testTensor{name: "x", key: "0", class: "IntStorage", numel: 1, size: []int{1}, stride: []int{1}}, six[:4]), "torch.IntStorage not supported"},
		"huge numel":        {one(testTensor{name: "x", key: "0", class: "FloatStorage", numel: 1 << 30, size: []int{1}, stride: []int{1}}, six), "needs 4294967296 bytes"},
		"no data.pkl":       {torchZip(t, "a/b", []byte{}, nil), "no <archive>/data.pkl"},
		"tar":               {append(make([]byte, 257), "ustar\x0000"...), "tar format"},
		"safetensors":       {smallSafetensors(), "looks like a safetensors file"},
		"garbage":           {[]byte("hello world"), "neither a zip archive nor"},
		"empty":             {nil, "neither"},
	}
	// A view over a storage in the legacy format.
	views := stateDictPickle([]testTensor{{name: "x", key: "0", class: "FloatStorage", numel: 1, size: []int{1}, stride: []int{1}}}, true)
	views = bytes.Replace(views, []byte{'N', 't', 'Q'}, []byte{'K', 0, 't', 'Q'}, 1)
	cases["legacy view"] = struct {
		file []byte
		want string
	}{torchLegacy(views, []string{"0"}, []int{1}, map[string][]byte{"0": six[:4]}), "view_metadata"}
	// Legacy count disagreeing with the pickle.
	good := stateDictPickle([]testTensor{{name: "x", key: "0", class: "FloatStorage", numel: 1, size: []int{1}, stride: []int{1}}}, true)
	cases["legacy count"] = struct {
		file []byte
		want string
	}{torchLegacy(good, []string{"0"}, []int{2}, map[string][]byte{"0": six[:8]}), "file says 2 elements, pickle says 1"}
	cases["legacy unknown key"] = struct {
		file []byte
		want string
	}{torchLegacy(good, []string{"9"}, []int{1}, map[string][]byte{"9": six[:4]}), "not used by the state dict"}
	for name, c := range cases {
		_, err := readTorch(c.file)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, c.want)
		}
	}
}

// TestTorchOverlappingEntries: zip central directory records may all point at the same
// bytes; ten storages sharing one 4 KB entry must not become 40 KB of tensors.
func TestTorchOverlappingEntries(t *testing.T) {
	var tensors []testTensor
	for i := range 10 {
		tensors = append(tensors, testTensor{name: fmt.Sprint("t", i), key: fmt.Sprint(i), class: "FloatStorage", numel: 1000, size: []int{1000}, stride: []int{1}})
	}
	z := torchZip(t, "archive", stateDictPickle(tensors, false), map[string][]byte{"0": make([]byte, 4000)})
	// Clone the central directory record of archive/data/0 as data/1 ... data/9.
	eocd := len(z) - 22
	cdSize := int(binary.LittleEndian.Uint32(z[eocd+12:]))
	cdOff := int(binary.LittleEndian.Uint32(z[eocd+16:]))
	cd := z[cdOff : cdOff+cdSize]
	i := bytes.Index(cd, []byte("archive/data/0"))
	recStart := bytes.LastIndex(cd[:i], []byte("PK\x01\x02"))
	rec := cd[recStart : i+len("archive/data/0")] // no extra field or comment
	var extra []byte
	for k := 1; k < 10; k++ {
		r := slices.Clone(rec)
		r[len(r)-1] = byte('0' + k)
		extra = append(extra, r...)
	}
	out := slices.Concat(z[:cdOff+cdSize], extra, z[eocd:])
	e := len(out) - 22
	binary.LittleEndian.PutUint16(out[e+8:], binary.LittleEndian.Uint16(out[e+8:])+9)
	binary.LittleEndian.PutUint16(out[e+10:], binary.LittleEndian.Uint16(out[e+10:])+9)
	binary.LittleEndian.PutUint32(out[e+12:], uint32(cdSize+len(extra)))
	_, err := readTorch(out)
	if err == nil || !strings.Contains(err.Error(), "overlapping entries") {
		t.Errorf("overlapping entries: %v", err)
	}
}

func TestTorchCompressedEntryRefused(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("archive/data.pkl") // Deflate
	w.Write(stateDictPickle(nil, false))
	zw.Close()
	if _, err := readTorch(buf.Bytes()); err == nil || !strings.Contains(err.Error(), "compressed") {
		t.Errorf("deflated entry: %v", err)
	}
}

func TestTorchFixturesTruncated(t *testing.T) {
	for _, name := range []string{TorchFile, "legacy_pytorch_model_no_word_embeddings.bin"} {
		full, err := os.ReadFile(filepath.Join(fixtureDir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range []int{0, 1, 2, 15, 22, 100, 1000, 14500, len(full) / 3, len(full) / 2, len(full) - 100, len(full) - 1} {
			if _, err := readTorch(full[:cut]); err == nil {
				t.Errorf("%s cut at %d of %d accepted", name, cut, len(full))
			}
		}
		// One flipped byte inside a storage is caught by the zip CRC.
		if name == TorchFile {
			bad := slices.Clone(full)
			bad[len(bad)/2] ^= 0xff
			if _, err := readTorch(bad); err == nil {
				t.Errorf("%s with a flipped byte accepted", name)
			}
		}
	}
}

func TestPickleVM(t *testing.T) {
	run := func(b []byte) (any, error) {
		u := &unpickler{data: b}
		return u.load()
	}
	// LONG1 of negative and big numbers, BINFLOAT, memo, DUP/POP, lists.
	p := (&pickleWriter{}).proto().op(']', 'q', 0).mark()
	p.op(0x8a, 2, 0x00, 0x80)                // LONG1 -32768
	p.op(0x8a, 9, 1, 0, 0, 0, 0, 0, 0, 0, 1) // 2^64 + 1
	p.op('G', 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18)
	p.op('h', 0) // the list itself (cyclic)
	p.op('N', '2', '0', '0')
	p.op('e').stop()
	v, err := run(p.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	l := v.(*pyList)
	if len(l.items) != 4 || l.items[0] != int64(-32768) || l.items[2] != 3.141592653589793 || l.items[3] != l {
		t.Errorf("got %v", l.items)
	}
	if b := l.items[1].(interface{ String() string }).String(); b != "18446744073709551617" {
		t.Errorf("big long %s", b)
	}
	for name, bad := range map[string][]byte{
		"no stop":          {0x80, 2, 'N'},
		"underflow":        {0x80, 2, 'R', '.'},
		"mark underflow":   {0x80, 2, 'N', '(', 0x85, '.'},
		"unset memo":       {0x80, 2, 'h', 5, '.'},
		"huge string":      {0x80, 2, 'X', 0xff, 0xff, 0xff, 0xff, 'a', '.'},
		"huge frame":       {0x80, 4, 0x95, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '.'},
		"unknown opcode":   {0x80, 2, 'I', '1', '\n', '.'},
		"protocol 1":       {0x80, 1, 'N', '.'},
		"two values":       {0x80, 2, 'N', 'N', '.'},
		"odd setitems":     {0x80, 2, '}', '(', 'N', 'u', '.'},
		"list key":         {0x80, 2, '}', ']', 'N', 's', '.'},
		"append to dict":   {0x80, 2, '}', 'N', 'a', '.'},
		"newobj":           {0x80, 2, 'N', ')', 0x81, '.'},
		"reduce non-tuple": {0x80, 2, 'N', 'N', 'R', '.'},
		"build":            {0x80, 2, ']', '}', 'b', '.'},
		"persid":           {0x80, 2, 'N', 'Q', '.'},
		"long global":      append([]byte{0x80, 2, 'c'}, bytes.Repeat([]byte{'a'}, 300)...),
		"bad utf8":         {0x80, 2, 0x8c, 1, 0xff, '.'},
	} {
		if _, err := run(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
