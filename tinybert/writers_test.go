package tinybert

// Test-only writers for the formats we read, to craft small checkpoints (strided
// tensors, shared storages, other dtypes, hostile pickles) that the fixtures lack. The
// fixtures written by real torch/numpy check the readers independently of these.

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
)

// pickleWriter emits protocol-2 opcodes.
type pickleWriter struct{ bytes.Buffer }

func (p *pickleWriter) op(b ...byte) *pickleWriter { p.Write(b); return p }
func (p *pickleWriter) proto() *pickleWriter       { return p.op(0x80, 2) }
func (p *pickleWriter) stop() *pickleWriter        { return p.op('.') }
func (p *pickleWriter) mark() *pickleWriter        { return p.op('(') }
func (p *pickleWriter) global(module, name string) *pickleWriter {
	p.WriteString("c" + module + "\n" + name + "\n")
	return p
}
func (p *pickleWriter) str(s string) *pickleWriter {
	p.WriteByte('X')
	binary.Write(&p.Buffer, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}
func (p *pickleWriter) int(n int) *pickleWriter {
	switch {
	case n >= 0 && n < 256:
		p.op('K', byte(n))
	case n >= 0 && n < 65536:
		p.op('M', byte(n), byte(n>>8))
	default:
		p.WriteByte('J')
		binary.Write(&p.Buffer, binary.LittleEndian, int32(n))
	}
	return p
}
func (p *pickleWriter) ints(ns []int) *pickleWriter {
	p.mark()
	for _, n := range ns {
		p.int(n)
	}
	return p.op('t')
}

// testTensor describes one state-dict entry as torch would pickle it.
type testTensor struct {
	name, key, class string // class e.g. "FloatStorage"
	numel, offset    int    // storage element count, storage offset
	size, stride     []int
}

// stateDictPickle writes OrderedDict(name -> _rebuild_tensor_v2(...)) with the
// _metadata BUILD, as torch.save(model.state_dict()) does.
func stateDictPickle(tensors []testTensor, legacy bool) []byte {
	p := &pickleWriter{}
	p.proto().global("collections", "OrderedDict").op(')', 'R').mark()
	for _, t := range tensors {
		p.str(t.name).global("torch._utils", "_rebuild_tensor_v2").mark()
		p.mark().str("storage").global("torch", t.class).str(t.key).str("cpu").int(t.numel)
		if legacy {
			p.op('N')
		}
		p.op('t', 'Q')
		p.int(t.offset).ints(t.size).ints(t.stride).op(0x89)
		p.global("collections", "OrderedDict").op(')', 'R')
		p.op('t', 'R')
	}
	p.op('u')
	// BUILD state {'_metadata': OrderedDict({'': {'version': 1}})}
	p.op('}').str("_metadata").global("collections", "OrderedDict").op(')', 'R')
	p.str("").op('}').str("version").int(1).op('s', 's')
	p.op('s', 'b').stop()
	return p.Bytes()
}

// torchZip writes the torch >= 1.6 zip container with the given data.pkl.
func torchZip(t testing.TB, prefix string, pkl []byte, storages map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: prefix + "/" + name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("data.pkl", pkl)
	for k, v := range storages {
		add("data/"+k, v)
	}
	add("version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// torchLegacy writes the pre-1.6 format: magic, version, sys_info, state dict, keys,
// then (int64 count, bytes) per key.
func torchLegacy(pkl []byte, keys []string, counts []int, storages map[string][]byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'})
	b.Write((&pickleWriter{}).proto().int(1001).stop().Bytes())
	si := (&pickleWriter{}).proto().op('}').mark().str("protocol_version").int(1001).str("little_endian").op(0x88).op('u').stop()
	b.Write(si.Bytes())
	b.Write(pkl)
	kp := (&pickleWriter{}).proto().op(']').mark()
	for _, k := range keys {
		kp.str(k)
	}
	b.Write(kp.op('e').stop().Bytes())
	for i, k := range keys {
		binary.Write(&b, binary.LittleEndian, int64(counts[i]))
		b.Write(storages[k])
	}
	return b.Bytes()
}

func f32Bytes(xs ...float32) []byte {
	b := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func i64Bytes(xs ...int64) []byte {
	b := make([]byte, 8*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}

// stEntry is one tensor for safetensorsBytes; offsets are computed unless given.
type stEntry struct {
	name, dtype string
	shape       []int
	data        []byte
	offsets     []int64 // override
}

// safetensorsBytes writes a safetensors file (header padded to 8 bytes like the writers).
func safetensorsBytes(entries []stEntry) []byte {
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data []byte
	for _, e := range entries {
		off := []int64{int64(len(data)), int64(len(data) + len(e.data))}
		if e.offsets != nil {
			off = e.offsets
		}
		header[e.name] = map[string]any{"dtype": e.dtype, "shape": e.shape, "data_offsets": off}
		data = append(data, e.data...)
	}
	h, _ := json.Marshal(header)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	return rawSafetensors(h, data)
}

func rawSafetensors(header, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}
