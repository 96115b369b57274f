package datasets

import (
	"bytes"
	"fmt"
	"testing"
)

func TestParseIDXRawAndGzip(t *testing.T) {
	img, _ := mnistFiles(3, 4, 5)
	for _, tc := range []struct {
		name string
		b    []byte
	}{{"raw", img}, {"gzip", gzipBytes(img)}} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseIDX("x", tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if f.typ != idxUint8 || fmt.Sprint(f.dims) != "[3 4 5]" || f.headerSize != 16 {
				t.Fatalf("type 0x%02x dims %v header %d, want 0x08 [3 4 5] 16", f.typ, f.dims, f.headerSize)
			}
			if !bytes.Equal(f.data, img[16:]) {
				t.Fatal("data differs from what was written")
			}
		})
	}
}

func TestParseIDXOtherTypes(t *testing.T) {
	// int16 [2,3]: 12 data bytes; float64 [1]: 8.
	for _, tc := range []struct {
		typ  byte
		dims []int
		size int
	}{{idxInt16, []int{2, 3}, 12}, {idxFloat64, []int{1}, 8}, {idxInt32, []int{2, 1, 1, 2}, 16}} {
		f, err := parseIDX("x", idxBytes(tc.typ, tc.dims, make([]byte, tc.size)))
		if err != nil || len(f.data) != tc.size {
			t.Fatalf("type 0x%02x dims %v: %v", tc.typ, tc.dims, err)
		}
	}
}

func TestParseIDXErrors(t *testing.T) {
	img, _ := mnistFiles(2, 3, 3)
	for _, tc := range []struct {
		name  string
		b     []byte
		off   int64 // -1: no offset
		frags []string
	}{
		{"empty", nil, -1, []string{"f.idx", "empty file"}},
		{"empty gzip", gzipBytes(nil), -1, []string{"empty file"}},
		{"wrong magic", append([]byte{0x08, 0x03, 0, 0}, img[4:]...), 0, []string{"bad magic 0x08030000", "not an IDX file"}},
		{"unknown type", append([]byte{0, 0, 0x07, 3}, img[4:]...), 2, []string{"unknown IDX element type 0x07"}},
		{"rank 0", []byte{0, 0, 8, 0}, 3, []string{"rank 0"}},
		{"truncated magic", img[:3], 3, []string{"truncated", "the 4-byte magic"}},
		{"truncated dims", img[:9], 9, []string{"truncated", "3 dimensions needs 12 bytes from byte 4"}},
		{"truncated data", img[:20], 20, []string{"truncated", "need 18 data bytes", "ends at byte 20"}},
		{"trailing data", append(append([]byte{}, img...), 1, 2), 34, []string{"unexpected data after the 18 data bytes"}},
		{"huge dims raw", idxBytes(idxUint8, []int{1 << 30, 1 << 30, 1 << 30}, nil), 16, []string{"truncated", "need 1.24e+27 data bytes"}},
		{"huge dims gzip", gzipBytes(idxBytes(idxUint8, []int{60000, 28, 28}, nil)), 16, []string{"more than a", "gzip file can hold"}},
		{"gzip truncated data", gzipBytes(img[:20]), 20, []string{"truncated", "ends at byte 20"}},
		{"gzip trailing data", gzipBytes(append(append([]byte{}, img...), 9)), 34, []string{"unexpected data"}},
		{"gzip then garbage", append(gzipBytes(img), "garbage"...), 34, []string{"corrupt gzip stream after the data"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseIDX("f.idx", tc.b)
			wantErr(t, err, append(tc.frags, "f.idx")...)
			wantOffset(t, err, tc.off)
		})
	}
}

// TestParseIDXTruncatedEverywhere cuts a raw and a gzipped file at every
// offset: each cut is an error naming the file, never a panic or a short result.
func TestParseIDXTruncatedEverywhere(t *testing.T) {
	img, _ := mnistFiles(2, 3, 3)
	for _, b := range [][]byte{img, gzipBytes(img)} {
		for cut := range len(b) {
			if _, err := parseIDX("cut.idx", b[:cut]); err == nil {
				t.Fatalf("%d-byte file cut at %d parsed without error", len(b), cut)
			} else {
				wantErr(t, err, "cut.idx")
			}
		}
	}
}

func TestParseIDXCorruptGzip(t *testing.T) {
	img, _ := mnistFiles(2, 3, 3)
	gz := gzipBytes(img)
	crc := append([]byte{}, gz...)
	crc[len(crc)-6] ^= 0xff // inside the CRC-32 of the trailer
	_, err := parseIDX("bad.gz", crc)
	wantErr(t, err, "bad.gz", "corrupt gzip stream after the data", "checksum")
	size := append([]byte{}, gz...)
	size[len(size)-1] ^= 0x01 // the ISIZE of the trailer
	_, err = parseIDX("bad.gz", size)
	wantErr(t, err, "bad.gz", "corrupt gzip")
	hdr := append([]byte{}, gz...)
	hdr[2] = 7 // compression method
	_, err = parseIDX("bad.gz", hdr)
	wantErr(t, err, "bad.gz", "bad gzip header")
}

func FuzzIDX(f *testing.F) {
	img, lbl := mnistFiles(2, 3, 3)
	for _, b := range [][]byte{img, lbl, gzipBytes(img), gzipBytes(lbl), img[:20], {0, 0, 8, 1, 0, 0, 0, 1, 7}, {}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := parseIDX("fuzz", b)
		if err != nil {
			if _, ok := err.(*FormatError); !ok {
				t.Fatalf("error %v is %T, want *FormatError", err, err)
			}
			return
		}
		want := idxElemSize(idx.typ)
		for _, d := range idx.dims {
			want *= d
		}
		if len(idx.data) != want || len(idx.dims) == 0 {
			t.Fatalf("dims %v of %d-byte elements but %d data bytes", idx.dims, idxElemSize(idx.typ), len(idx.data))
		}
		if len(b) >= 2 && b[0] != 0x1f && idx.headerSize+len(idx.data) != len(b) {
			t.Fatalf("raw file of %d bytes decoded as %d header + %d data bytes", len(b), idx.headerSize, len(idx.data))
		}
		// A well-formed MNIST-style file must either load or be refused with a FormatError.
		if _, err := checkIDXImages("fuzz", idx, 3, 3); err != nil {
			if _, ok := err.(*FormatError); !ok {
				t.Fatalf("checkIDXImages error %T", err)
			}
		}
		if _, err := checkIDXLabels("fuzz", idx); err != nil {
			if _, ok := err.(*FormatError); !ok {
				t.Fatalf("checkIDXLabels error %T", err)
			}
		}
	})
}
