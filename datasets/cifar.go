package datasets

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// CIFAR-10 binary layout: each record is 1 label byte, then 1024 red, 1024
// green and 1024 blue bytes, each plane row-major 32×32.
const (
	cifarDir     = "cifar-10-batches-bin"
	cifarArchive = "cifar-10-binary.tar.gz"
	cifarPlane   = 32 * 32
	cifarRecord  = 1 + 3*cifarPlane
	// cifarMaxFile bounds one batch file (the official ones are 10,000 records, 30,730,000 bytes).
	cifarMaxFile = 64 << 20
)

func cifarFiles(split Split) []string {
	if split == Test {
		return []string{"test_batch.bin"}
	}
	return []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
}

// cifarBatch is the content of one batch file, checked.
type cifarBatch struct {
	data []byte
	n    int
}

// checkCIFAR checks a batch file holds whole records with labels below 10 and returns the record count.
func checkCIFAR(name string, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, fileErr(name, "empty file")
	}
	n := len(b) / cifarRecord
	if rest := len(b) % cifarRecord; rest != 0 {
		return 0, byteErr(name, int64(n*cifarRecord), "truncated record %d: %d of its %d bytes (the file holds %d whole records and is %d bytes long)",
			n, rest, cifarRecord, n, len(b))
	}
	for i := range n {
		if l := b[i*cifarRecord]; l >= numClasses {
			return 0, byteErr(name, int64(i*cifarRecord), "record %d: label %d out of range [0,%d)", i, l, numClasses)
		}
	}
	return n, nil
}

// decodeCIFAR writes the n records of b as normalised NHWC pixels into dst and their labels into labels.
func decodeCIFAR(dst []float32, labels []int32, b []byte, luts [][256]float32) {
	n := len(b) / cifarRecord
	r, g, bl := &luts[0], &luts[1], &luts[2]
	parallelRange(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			rec := b[i*cifarRecord : (i+1)*cifarRecord]
			labels[i] = int32(rec[0])
			red, green, blue := rec[1:1+cifarPlane], rec[1+cifarPlane:1+2*cifarPlane], rec[1+2*cifarPlane:]
			out := dst[i*3*cifarPlane : (i+1)*3*cifarPlane]
			for p := range cifarPlane {
				o := out[3*p : 3*p+3 : 3*p+3]
				o[0], o[1], o[2] = r[red[p]], g[green[p]], bl[blue[p]]
			}
		}
	})
}

// loadCIFAR reads a split from root/cifar-10-batches-bin, else from
// root/cifar-10-binary.tar.gz, else downloads and unpacks the archive.
func loadCIFAR(root string, split Split, norm Normalization, cfg *config) (*Images, error) {
	files := cifarFiles(split)
	archive, err := cfg.locateCIFAR(root, files)
	if err != nil {
		return nil, err
	}
	var batches []cifarBatch
	if archive != "" {
		batches, err = readCIFARArchive(archive, files)
	} else {
		batches, err = readCIFARDir(root, files)
	}
	if err != nil {
		return nil, err
	}
	total := 0
	for _, b := range batches {
		total += b.n
	}
	im := &Images{N: total, Pixels: make([]float32, total*3*cifarPlane), Labels: make([]int32, total)}
	luts := norm.luts()
	start := 0
	for _, b := range batches {
		decodeCIFAR(im.Pixels[start*3*cifarPlane:(start+b.n)*3*cifarPlane], im.Labels[start:start+b.n], b.data, luts)
		start += b.n
	}
	return im, nil
}

// readCIFARDir reads and checks the batch files from root/cifar-10-batches-bin.
func readCIFARDir(root string, files []string) ([]cifarBatch, error) {
	batches := make([]cifarBatch, len(files))
	for i, f := range files {
		path := filepath.Join(root, cifarDir, f)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		n, err := checkCIFAR(path, b)
		if err != nil {
			return nil, err
		}
		batches[i] = cifarBatch{data: b, n: n}
	}
	return batches, nil
}

// readCIFARArchive reads and checks the batch files straight from the official .tar.gz.
func readCIFARArchive(archive string, files []string) ([]cifarBatch, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseCIFARArchive(archive, f, files)
}

func parseCIFARArchive(archive string, r io.Reader, files []string) ([]cifarBatch, error) {
	want := make(map[string]int, len(files))
	for i, f := range files {
		want[cifarDir+"/"+f] = i
	}
	batches := make([]cifarBatch, len(files))
	found := 0
	err := walkTarGz(archive, r, cifarMaxFile, func(name string, hdr *tar.Header, body io.Reader) error {
		i, ok := want[name]
		if !ok || batches[i].data != nil {
			return nil
		}
		b, err := readSized(body, hdr.Size)
		if err != nil {
			return fileErr(archive, "member %s: %v", name, err)
		}
		member := archive + ":" + name
		n, err := checkCIFAR(member, b)
		if err != nil {
			return err
		}
		batches[i] = cifarBatch{data: b, n: n}
		found++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if found < len(files) {
		for i, f := range files {
			if batches[i].data == nil {
				return nil, fileErr(archive, "no member %s/%s in the archive", cifarDir, f)
			}
		}
	}
	return batches, nil
}

// walkTarGz calls fn for every regular file of a gzip-compressed tar stream,
// with its cleaned slash-separated name. Members with absolute or escaping
// paths, links, devices or a size above maxMember are errors, whoever
// consumes them: an archive holding any is not the publisher's.
func walkTarGz(archive string, r io.Reader, maxMember int64, fn func(name string, hdr *tar.Header, body io.Reader) error) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fileErr(archive, "not a gzip file: %v", err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fileErr(archive, "corrupt or truncated archive: %v", err)
		}
		name, err := safeMemberName(hdr.Name)
		if err != nil {
			return fileErr(archive, "member %q: %v", hdr.Name, err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		case tar.TypeXGlobalHeader:
			continue
		default:
			return fileErr(archive, "member %q: %s (only regular files and directories are accepted)", hdr.Name, tarTypeName(hdr.Typeflag))
		}
		if hdr.Size < 0 || hdr.Size > maxMember {
			return fileErr(archive, "member %q: %d bytes, more than the %d allowed", hdr.Name, hdr.Size, maxMember)
		}
		if err := fn(name, hdr, tr); err != nil {
			return err
		}
	}
	// Drain to the end so gzip verifies its checksum: a corrupt archive is not half-trusted.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return fileErr(archive, "corrupt archive: %v", err)
	}
	return nil
}

// readSized reads exactly size bytes, growing its buffer as data arrives
// rather than trusting a header's size for one big allocation up front.
func readSized(r io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, 0, min(size, 1<<20))
	for int64(len(buf)) < size {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(size-int64(len(buf)), int64(cap(buf)))))
		}
		n, err := r.Read(buf[len(buf):min(int64(cap(buf)), size)])
		buf = buf[:len(buf)+n]
		if err != nil && int64(len(buf)) < size {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("read %d of %d bytes: %w", len(buf), size, err)
		}
	}
	return buf, nil
}

func tarTypeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "a symbolic link"
	case tar.TypeLink:
		return "a hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "a device"
	case tar.TypeFifo:
		return "a named pipe"
	}
	return fmt.Sprintf("tar entry type %q", t)
}
