package tinybert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"unicode/utf8"
)

// maxSafetensorsHeader is the limit the reference safetensors library applies (100 MB):
// a larger header is refused before anything is allocated for it.
const maxSafetensorsHeader = 100_000_000

// safetensorsDTypes are the dtypes we read; F16/BF16 are widened exactly to float32.
var safetensorsDTypes = map[string]storageDType{"F32": stF32, "F16": stF16, "BF16": stBF16, "I64": stI64, "F64": stF64}

// ReadSafetensorsFile reads every tensor of a .safetensors file.
func ReadSafetensorsFile(path string) (StateDict, error) { return readFile(path, ReadSafetensors) }

// readFile applies a reader of (io.ReaderAt, size) to a file, naming it in errors.
func readFile(path string, read func(io.ReaderAt, int64) (StateDict, error)) (StateDict, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sd, err := read(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sd, nil
}

// ReadSafetensors reads every tensor of a safetensors blob of the given size.
//
// The checks are those of the reference implementation (and a bit more): header at most
// 100 MB and inside the file; valid UTF-8 JSON with no duplicate names; offsets sorted,
// contiguous from 0 and covering the data section exactly (so no overlaps or gaps);
// end-begin == numel × dtype size; dtype one of F32, F16, BF16 (read as float32), F64 or I64.
func ReadSafetensors(r io.ReaderAt, size int64) (StateDict, error) {
	if size < 8 {
		return nil, fmt.Errorf("safetensors: file is %d bytes, too short for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxSafetensorsHeader {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the 100 MB limit (corrupt file or not safetensors)", n)
	}
	if int64(n) > size-8 {
		return nil, fmt.Errorf("safetensors: header length %d but only %d bytes follow (truncated file?)", n, size-8)
	}
	header := make([]byte, n)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("safetensors: reading header: %w", err)
	}
	dataStart := 8 + int64(n)
	entries, err := parseSafetensorsHeader(header, size-dataStart)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	sd := make(StateDict, len(entries))
	var buf []byte
	for _, e := range entries {
		nb := int(e.end - e.begin)
		if cap(buf) < nb {
			buf = make([]byte, nb)
		}
		buf = buf[:nb]
		if nb > 0 {
			if _, err := r.ReadAt(buf, dataStart+e.begin); err != nil {
				return nil, fmt.Errorf("safetensors: reading %q: %w", e.name, err)
			}
		}
		d := decodeLE(e.st, buf)
		sd[e.name] = &Tensor{DType: e.st.dtype(), Shape: e.shape, F32: d.f32, I64: d.i64, F64: d.f64}
	}
	return sd, nil
}

type safetensorsEntry struct {
	name       string
	st         storageDType
	shape      []int
	begin, end int64
}

// parseSafetensorsHeader validates the JSON header against a data section of dataSize
// bytes and returns the entries sorted by offset.
func parseSafetensorsHeader(header []byte, dataSize int64) ([]safetensorsEntry, error) {
	if !utf8.Valid(header) {
		return nil, fmt.Errorf("header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("header is not a JSON object")
	}
	seen := map[string]bool{}
	var entries []safetensorsEntry
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("header JSON: expected a tensor name, got %v", tok)
		}
		if seen[name] {
			return nil, fmt.Errorf("header names %q twice", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("header JSON at %q: %w", name, err)
		}
		if name == "__metadata__" {
			var meta map[string]string
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, fmt.Errorf("__metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var info struct {
			DType       *string  `json:"dtype"`
			Shape       *[]int   `json:"shape"`
			DataOffsets *[]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &info); err != nil {
			return nil, fmt.Errorf("tensor %q: bad header entry: %w", name, err)
		}
		if info.DType == nil || info.Shape == nil || info.DataOffsets == nil {
			return nil, fmt.Errorf("tensor %q: header entry needs dtype, shape and data_offsets", name)
		}
		st, ok := safetensorsDTypes[*info.DType]
		if !ok {
			return nil, fmt.Errorf("tensor %q: dtype %q not supported (only F32, F16, BF16, F64 and I64)", name, *info.DType)
		}
		numel, err := numElements(*info.Shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		off := *info.DataOffsets
		if len(off) != 2 || off[0] < 0 || off[1] < off[0] {
			return nil, fmt.Errorf("tensor %q: data_offsets %v must be [begin, end] with 0 <= begin <= end", name, off)
		}
		if off[1] > dataSize {
			return nil, fmt.Errorf("tensor %q: data_offsets %v go past the %d-byte data section (truncated file?)", name, off, dataSize)
		}
		if want := int64(numel) * int64(st.size()); off[1]-off[0] != want {
			return nil, fmt.Errorf("tensor %q: %s%v needs %d bytes but data_offsets %v span %d", name, *info.DType, *info.Shape, want, off, off[1]-off[0])
		}
		shape := append([]int{}, *info.Shape...)
		entries = append(entries, safetensorsEntry{name: name, st: st, shape: shape, begin: off[0], end: off[1]})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("header has trailing data after the JSON object")
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].begin != entries[j].begin {
			return entries[i].begin < entries[j].begin
		}
		return entries[i].end < entries[j].end
	})
	var pos int64
	for i, e := range entries {
		if e.begin != pos {
			if e.begin < pos {
				return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q (ends at %d)", e.name, e.begin, e.end, entries[i-1].name, pos)
			}
			return nil, fmt.Errorf("tensor %q: data_offsets start at %d, leaving a gap after byte %d", e.name, e.begin, pos)
		}
		pos = e.end
	}
	if pos != dataSize {
		return nil, fmt.Errorf("tensors cover %d bytes but the data section has %d (truncated or padded file?)", pos, dataSize)
	}
	return entries, nil
}
