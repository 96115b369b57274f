package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// IDX element types (LeCun's format: magic 0x00 0x00 type rank, then rank
// big-endian uint32 dimensions, then the data, row-major, big-endian).
const (
	idxUint8   = 0x08
	idxInt8    = 0x09
	idxInt16   = 0x0B
	idxInt32   = 0x0C
	idxFloat32 = 0x0D
	idxFloat64 = 0x0E
)

func idxElemSize(typ byte) int {
	switch typ {
	case idxUint8, idxInt8:
		return 1
	case idxInt16:
		return 2
	case idxInt32, idxFloat32:
		return 4
	case idxFloat64:
		return 8
	}
	return 0
}

// maxDeflateRatio bounds how far a deflate stream can expand (1032:1), so that
// a corrupt header cannot make us allocate more than the file could hold.
const maxDeflateRatio = 1032

// idxFile is one decoded IDX file.
type idxFile struct {
	typ        byte
	dims       []int
	headerSize int    // data starts at this byte
	data       []byte // raw big-endian elements
}

// readIDX reads an IDX file, gzip-compressed or raw (told apart by gzip's magic, not the name).
func readIDX(path string) (*idxFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseIDX(path, b)
}

// parseIDX decodes the bytes of an IDX file (gzip or raw); name is used in errors.
func parseIDX(name string, b []byte) (*idxFile, error) {
	if len(b) == 0 {
		return nil, fileErr(name, "empty file")
	}
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fileErr(name, "bad gzip header: %v", err)
		}
		return decodeIDX(name, &trackingReader{r: zr}, int64(len(b))*maxDeflateRatio+1024, true)
	}
	return decodeIDX(name, &trackingReader{r: bytes.NewReader(b)}, int64(len(b)), false)
}

// trackingReader remembers the last error of the underlying reader, so that a
// clean end of data (io.EOF) can be told from a broken gzip stream.
type trackingReader struct {
	r   io.Reader
	off int64
	err error
}

func (t *trackingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.off += int64(n)
	if err != nil {
		t.err = err
	}
	return n, err
}

// readFull fills buf, turning short reads into FormatErrors that say what was being read.
func (t *trackingReader) readFull(name string, buf []byte, what string, gz bool) error {
	start := t.off
	_, err := io.ReadFull(t, buf)
	if err == nil {
		return nil
	}
	if gz && !errors.Is(t.err, io.EOF) {
		return byteErr(name, t.off, "corrupt or truncated gzip stream while reading %s: %v", what, t.err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return byteErr(name, t.off, "truncated: %s needs %d bytes from byte %d, the data ends at byte %d",
			what, len(buf), start, t.off)
	}
	return byteErr(name, t.off, "reading %s: %v", what, err)
}

// decodeIDX decodes an IDX stream whose decoded length is at most maxLen.
func decodeIDX(name string, r *trackingReader, maxLen int64, gz bool) (*idxFile, error) {
	var magic [4]byte
	if err := r.readFull(name, magic[:], "the 4-byte magic", gz); err != nil {
		if r.off == 0 && errors.Is(r.err, io.EOF) {
			return nil, fileErr(name, "empty file (no IDX data)")
		}
		return nil, err
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, byteErr(name, 0, "bad magic 0x%02x%02x%02x%02x: an IDX file starts with 0x0000 (not an IDX file?)",
			magic[0], magic[1], magic[2], magic[3])
	}
	f := &idxFile{typ: magic[2]}
	size := idxElemSize(f.typ)
	if size == 0 {
		return nil, byteErr(name, 2, "unknown IDX element type 0x%02x", f.typ)
	}
	rank := int(magic[3])
	if rank == 0 {
		return nil, byteErr(name, 3, "rank 0: an IDX file needs at least one dimension")
	}
	dimBytes := make([]byte, 4*rank)
	if err := r.readFull(name, dimBytes, fmt.Sprintf("%d dimensions", rank), gz); err != nil {
		return nil, err
	}
	f.headerSize = 4 + 4*rank
	f.dims = make([]int, rank)
	total := int64(size)
	for i := range f.dims {
		d := binary.BigEndian.Uint32(dimBytes[4*i:])
		if d > math.MaxInt32 {
			return nil, byteErr(name, int64(4+4*i), "dimension %d is %d, too large", i, d)
		}
		f.dims[i] = int(d)
		if d != 0 && total > maxLen/int64(d) {
			// Keep multiplying only while it could still fit; report the claim below.
			total = maxLen + 1
			continue
		}
		total *= int64(d)
	}
	if int64(f.headerSize)+total > maxLen {
		if !gz {
			return nil, byteErr(name, maxLen, "truncated: dimensions %v of %d-byte elements need %s data bytes after the %d-byte header, the file ends at byte %d",
				f.dims, size, claimed(f.dims, size), f.headerSize, maxLen)
		}
		return nil, byteErr(name, int64(f.headerSize), "dimensions %v of %d-byte elements need %s data bytes, more than a %d-byte gzip file can hold (corrupt header?)",
			f.dims, size, claimed(f.dims, size), maxLen/maxDeflateRatio)
	}
	f.data = make([]byte, total)
	if err := r.readFull(name, f.data, fmt.Sprintf("data of dimensions %v", f.dims), gz); err != nil {
		return nil, err
	}
	// Read on to the end: it finds trailing garbage and makes gzip verify its CRC-32 and length.
	var probe [1]byte
	n, err := io.ReadFull(r, probe[:])
	if n > 0 {
		return nil, byteErr(name, r.off-1, "unexpected data after the %d data bytes the header describes", total)
	}
	if !errors.Is(err, io.EOF) {
		return nil, byteErr(name, r.off, "corrupt gzip stream after the data: %v", err)
	}
	return f, nil
}

// claimed prints the product of dims×size without overflowing.
func claimed(dims []int, size int) string {
	p := float64(size)
	for _, d := range dims {
		p *= float64(d)
	}
	if p > 1<<53 {
		return fmt.Sprintf("%.3g", p)
	}
	return fmt.Sprintf("%d", int64(p))
}
