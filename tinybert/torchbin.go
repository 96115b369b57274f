package tinybert

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"
)

// ReadTorchFile reads a PyTorch checkpoint (pytorch_model.bin) written by torch.save of a
// state dict, in the zip format (torch >= 1.6) or the legacy format (five pickles then
// raw storages).
func ReadTorchFile(path string) (StateDict, error) { return readFile(path, ReadTorch) }

// ReadTorch reads a PyTorch checkpoint of the given size; see ReadTorchFile.
//
// Only the pickle globals needed to rebuild tensors are accepted (others fail with an
// *UnsafePickleError), storages must be F32, F16, BF16 (read as float32) or I64, and
// strided tensors are copied out in C order. The legacy format is read into memory whole;
// the zip format reads one storage at a time.
func ReadTorch(r io.ReaderAt, size int64) (StateDict, error) {
	var head [512]byte
	n, err := r.ReadAt(head[:min(int64(len(head)), size)], 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	h := head[:n]
	switch {
	case bytes.HasPrefix(h, []byte("PK\x03\x04")):
		sd, err := readTorchZip(r, size)
		if err != nil {
			return nil, fmt.Errorf("torch zip checkpoint: %w", err)
		}
		return sd, nil
	case len(h) >= 262 && string(h[257:262]) == "ustar":
		return nil, errors.New("torch checkpoint in the tar format of torch < 0.4 is not supported: re-save it with a recent torch")
	case len(h) >= 2 && h[0] == 0x80 && h[1] == 2:
		data := make([]byte, size) // size is the real file size, not a number read from it
		if _, err := r.ReadAt(data, 0); err != nil && err != io.EOF {
			return nil, err
		}
		sd, err := readTorchLegacy(data)
		if err != nil {
			return nil, fmt.Errorf("legacy torch checkpoint: %w", err)
		}
		return sd, nil
	case len(h) >= 9 && binary.LittleEndian.Uint64(h) < uint64(size) && h[8] == '{':
		return nil, errors.New("not a PyTorch checkpoint: this looks like a safetensors file (use ReadSafetensors)")
	}
	return nil, errors.New("not a PyTorch checkpoint: neither a zip archive nor a protocol-2 pickle")
}

// torchStorage is one storage named by a persistent id; its data is read after the
// pickle, so that the zip and legacy formats share the code.
type torchStorage struct {
	key   string
	st    storageDType
	numel int
	data  decoded
}

// tensorRef is what _rebuild_tensor_v2 returns: a strided view of a storage.
type tensorRef struct {
	storage *torchStorage
	offset  int
	shape   []int
	stride  []int
}

// storageClass is a whitelisted torch.*Storage global; it only tags persistent ids.
type storageClass struct {
	st   storageDType
	name string
}

var torchStorageClasses = map[string]storageDType{
	"FloatStorage": stF32, "HalfStorage": stF16, "BFloat16Storage": stBF16, "LongStorage": stI64, "DoubleStorage": stF64,
}

// torchCallables are the only globals REDUCE may call.
var torchCallables = []string{
	"collections.OrderedDict",
	"torch._utils._rebuild_tensor_v2",
	"torch._utils._rebuild_tensor",
	"torch._utils._rebuild_parameter",
}

func allowedGlobals() []string {
	out := append([]string{}, torchCallables...)
	for _, name := range []string{"FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage"} {
		out = append(out, "torch."+name)
	}
	return out
}

var otherStorage = regexp.MustCompile(`^[A-Za-z0-9]*Storage$`)

// torchLoader gives the pickle VM its whitelist and collects the storages it names.
type torchLoader struct {
	storages map[string]*torchStorage
	order    []*torchStorage
	// legacy persistent ids have a 6th field (view metadata, must be None).
	legacy bool
}

func newTorchLoader(legacy bool) *torchLoader {
	return &torchLoader{storages: map[string]*torchStorage{}, legacy: legacy}
}

func (l *torchLoader) findGlobal(module, name string, offset int) (any, error) {
	full := module + "." + name
	if module == "torch" {
		if st, ok := torchStorageClasses[name]; ok {
			return storageClass{st: st, name: full}, nil
		}
		if otherStorage.MatchString(name) {
			return nil, fmt.Errorf("tensor storage type %s not supported (only FloatStorage, HalfStorage, BFloat16Storage, DoubleStorage and LongStorage)", full)
		}
	}
	for _, c := range torchCallables {
		if c == full {
			return pyGlobal{module: module, name: name}, nil
		}
	}
	return nil, &UnsafePickleError{Global: full, Offset: offset, Allowed: allowedGlobals()}
}

func (l *torchLoader) unpickle(data []byte) (any, int, error) {
	u := &unpickler{data: data, findGlobal: l.findGlobal, call: l.call, persistentLoad: l.persistentLoad}
	v, err := u.load()
	return v, u.pos, err
}

func (l *torchLoader) persistentLoad(pid any) (any, error) {
	t, ok := pid.(pyTuple)
	want := 5
	if l.legacy {
		want = 6
	}
	if !ok || len(t) != want {
		return nil, fmt.Errorf("persistent id must be a tuple of %d, got %s", want, describe(pid))
	}
	if t[0] != "storage" {
		return nil, fmt.Errorf("persistent id of kind %s not supported (only 'storage')", describe(t[0]))
	}
	class, ok1 := t[1].(storageClass)
	key, ok2 := t[2].(string)
	_, ok3 := t[3].(string) // location, e.g. "cpu" or "cuda:0": the bytes are on disk either way
	numel, ok4 := t[4].(int64)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, fmt.Errorf("persistent id must be ('storage', torch.<T>Storage, key, location, numel), got (%s, %s, %s, %s, %s)",
			describe(t[0]), describe(t[1]), describe(t[2]), describe(t[3]), describe(t[4]))
	}
	if numel < 0 || numel > maxElements {
		return nil, fmt.Errorf("storage %q: element count %d out of range", key, numel)
	}
	if l.legacy && t[5] != nil {
		return nil, fmt.Errorf("storage %q: views of storages (view_metadata) in legacy checkpoints are not supported", key)
	}
	if s, ok := l.storages[key]; ok {
		if s.st != class.st || s.numel != int(numel) {
			return nil, fmt.Errorf("storage %q named twice with different types or sizes", key)
		}
		return s, nil
	}
	s := &torchStorage{key: key, st: class.st, numel: int(numel)}
	l.storages[key] = s
	l.order = append(l.order, s)
	return s, nil
}

func (l *torchLoader) call(fn any, args pyTuple) (any, error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, fmt.Errorf("%s is not callable here", describe(fn))
	}
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		if len(args) != 0 {
			return nil, fmt.Errorf("only OrderedDict() without arguments is supported")
		}
		return newPyDict(), nil
	case "torch._utils._rebuild_tensor_v2":
		// (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(args) != 6 && len(args) != 7 {
			return nil, fmt.Errorf("expected 6 or 7 arguments, got %d", len(args))
		}
		if err := checkHooks(args[4], args[5]); err != nil {
			return nil, err
		}
		return rebuildTensor(args[:4])
	case "torch._utils._rebuild_tensor":
		if len(args) != 4 {
			return nil, fmt.Errorf("expected 4 arguments, got %d", len(args))
		}
		return rebuildTensor(args)
	case "torch._utils._rebuild_parameter":
		// (data, requires_grad, backward_hooks): a Parameter is its tensor for us.
		if len(args) != 3 {
			return nil, fmt.Errorf("expected 3 arguments, got %d", len(args))
		}
		t, ok := args[0].(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("parameter data must be a tensor, got %s", describe(args[0]))
		}
		if err := checkHooks(args[1], args[2]); err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s is not callable", describe(fn))
}

func checkHooks(requiresGrad, hooks any) error {
	if _, ok := requiresGrad.(bool); !ok {
		return fmt.Errorf("requires_grad must be a bool, got %s", describe(requiresGrad))
	}
	if d, ok := hooks.(*pyDict); !ok || len(d.keys) != 0 {
		return fmt.Errorf("backward hooks must be an empty OrderedDict, got %s", describe(hooks))
	}
	return nil
}

func intTuple(v any, what string) ([]int, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("%s must be a tuple, got %s", what, describe(v))
	}
	if len(t) > 64 {
		return nil, fmt.Errorf("%s has %d dimensions", what, len(t))
	}
	out := make([]int, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 || n > maxElements {
			return nil, fmt.Errorf("%s %d must be an int in [0, 2^40], got %s", what, i, describe(x))
		}
		out[i] = int(n)
	}
	return out, nil
}

// rebuildTensor checks (storage, offset, size, stride) against the storage's declared
// element count; the data itself is only read later.
func rebuildTensor(args pyTuple) (*tensorRef, error) {
	s, ok := args[0].(*torchStorage)
	if !ok {
		return nil, fmt.Errorf("tensor storage must come from a persistent id, got %s", describe(args[0]))
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 || off > maxElements {
		return nil, fmt.Errorf("storage offset must be a non-negative int, got %s", describe(args[1]))
	}
	shape, err := intTuple(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := intTuple(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("size %v and stride %v have different ranks", shape, stride)
	}
	numel, err := numElements(shape)
	if err != nil {
		return nil, err
	}
	if numel > 0 {
		if numel > s.numel {
			return nil, fmt.Errorf("tensor of size %v has more elements than its storage %q (%d): expanded tensors are not supported", shape, s.key, s.numel)
		}
		// The last element reached is offset + sum((size-1)*stride); compare by division
		// so that crafted sizes and strides cannot overflow.
		last := off
		for i := range shape {
			if last >= int64(s.numel) {
				break
			}
			if shape[i] <= 1 || stride[i] == 0 {
				continue
			}
			room := int64(s.numel) - 1 - last
			if int64(shape[i]-1) > room/int64(stride[i]) {
				last = int64(s.numel)
				break
			}
			last += int64(shape[i]-1) * int64(stride[i])
		}
		if last >= int64(s.numel) {
			return nil, fmt.Errorf("tensor of size %v, stride %v at offset %d reaches past the %d elements of storage %q",
				shape, stride, off, s.numel, s.key)
		}
	}
	return &tensorRef{storage: s, offset: int(off), shape: shape, stride: stride}, nil
}

// materialize copies the view out of its storage in C order.
func (t *tensorRef) materialize() *Tensor {
	numel, _ := numElements(t.shape) // checked in rebuildTensor
	var idx []int                    // storage index of each element; nil when contiguous
	expect := 1
	for i := len(t.shape) - 1; i >= 0 && numel > 0; i-- { // numel 0: walking [2^20, 2^20, 0] would never end
		if t.shape[i] != 1 && t.stride[i] != expect {
			idx = make([]int, 0, numel)
			break
		}
		expect *= t.shape[i]
	}
	if idx != nil {
		var walk func(dim, base int)
		walk = func(dim, base int) {
			if dim == len(t.shape) {
				idx = append(idx, base)
				return
			}
			for i := 0; i < t.shape[dim]; i++ {
				walk(dim+1, base+i*t.stride[dim])
			}
		}
		walk(0, t.offset)
	}
	out := &Tensor{DType: t.storage.st.dtype(), Shape: t.shape}
	switch out.DType {
	case Int64:
		out.I64 = gather(t.storage.data.i64, t.offset, numel, idx)
	case Float64:
		out.F64 = gather(t.storage.data.f64, t.offset, numel, idx)
	default:
		out.F32 = gather(t.storage.data.f32, t.offset, numel, idx)
	}
	return out
}

// gather copies numel elements starting at offset, or at the given indices.
func gather[T any](data []T, offset, numel int, idx []int) []T {
	out := make([]T, numel)
	if numel == 0 {
		return out
	}
	if idx == nil {
		copy(out, data[offset:offset+numel])
		return out
	}
	for i, j := range idx {
		out[i] = data[j]
	}
	return out
}

// stateDict turns the unpickled top-level dict into tensors. Storages shared by several
// tensors are copied for each, within a budget so a crafted file cannot multiply one
// storage into terabytes.
func (l *torchLoader) stateDict(v any) (StateDict, error) {
	d, ok := v.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("top-level object is a %s, not a state dict", describe(v))
	}
	budget := int64(1 << 20)
	for _, s := range l.order {
		budget += 4 * int64(s.numel)
	}
	sd := make(StateDict, len(d.keys))
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("state dict key of type %s, expected str", describe(k))
		}
		ref, ok := d.vals[i].(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("state dict entry %q is a %s, not a tensor (not a plain state dict?)", name, describe(d.vals[i]))
		}
		n, _ := numElements(ref.shape)
		if budget -= int64(n); budget < 0 {
			return nil, fmt.Errorf("tensors view their storages more than 4 times over; refusing to expand them")
		}
		sd[name] = ref.materialize()
	}
	return sd, nil
}

func readTorchZip(r io.ReaderAt, size int64) (StateDict, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // we never write entries to disk
		return nil, err
	}
	files := map[string]*zip.File{}
	var pkl *zip.File
	for _, f := range zr.File {
		files[f.Name] = f
		if prefix, ok := strings.CutSuffix(f.Name, "/data.pkl"); ok && prefix != "" && !strings.Contains(prefix, "/") {
			if pkl != nil {
				return nil, fmt.Errorf("two data.pkl entries (%q and %q)", pkl.Name, f.Name)
			}
			pkl = f
		}
	}
	if pkl == nil {
		return nil, errors.New("no <archive>/data.pkl entry")
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	if bo, ok := files[prefix+"byteorder"]; ok {
		b, err := readZipEntry(bo, bo.UncompressedSize64, size)
		if err != nil {
			return nil, err
		}
		if string(b) != "little" {
			return nil, fmt.Errorf("byteorder %q not supported (only little-endian)", b)
		}
	}
	pklData, err := readZipEntry(pkl, pkl.UncompressedSize64, size)
	if err != nil {
		return nil, err
	}
	l := newTorchLoader(false)
	v, end, err := l.unpickle(pklData)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	if end != len(pklData) {
		return nil, fmt.Errorf("%s: %d trailing bytes after the pickle", pkl.Name, len(pklData)-end)
	}
	// Stored entries cannot hold more than the archive, unless crafted entries share
	// their bytes: the running total keeps many such entries from multiplying memory.
	total := uint64(len(pklData))
	for _, s := range l.order {
		name := prefix + "data/" + s.key
		f, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("storage %q: entry %q missing", s.key, name)
		}
		want := uint64(s.numel) * uint64(s.st.size())
		if total += want; total > uint64(size) {
			return nil, fmt.Errorf("storage %q needs %d bytes: with the others, more than the %d-byte archive holds (overlapping entries?)", s.key, want, size)
		}
		b, err := readZipEntry(f, want, size)
		if err != nil {
			return nil, fmt.Errorf("storage %q: %w", s.key, err)
		}
		s.data = decodeLE(s.st, b)
	}
	return l.stateDict(v)
}

// readZipEntry reads a stored (uncompressed) entry that must hold exactly want bytes.
// torch never compresses, and requiring it bounds every allocation by the archive size.
func readZipEntry(f *zip.File, want uint64, archiveSize int64) ([]byte, error) {
	if f.Method != zip.Store {
		return nil, fmt.Errorf("entry %q is compressed (method %d); torch writes stored entries only", f.Name, f.Method)
	}
	if f.UncompressedSize64 != want || f.CompressedSize64 != want {
		return nil, fmt.Errorf("entry %q has %d bytes, expected %d", f.Name, f.UncompressedSize64, want)
	}
	if want > uint64(archiveSize) {
		return nil, fmt.Errorf("entry %q claims %d bytes in a %d-byte archive", f.Name, want, archiveSize)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("entry %q: %w", f.Name, err)
	}
	defer rc.Close()
	b := make([]byte, want)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("entry %q: %w", f.Name, err)
	}
	// Reading to EOF makes archive/zip verify the CRC-32.
	if _, err := io.Copy(io.Discard, io.LimitReader(rc, 1)); err != nil {
		return nil, fmt.Errorf("entry %q: %w", f.Name, err)
	}
	return b, nil
}

// legacyMagic is torch's MAGIC_NUMBER for the pre-zip format.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// readTorchLegacy reads torch.save(..., _use_new_zipfile_serialization=False): pickles of
// the magic number, the protocol version (1001), sys_info and the state dict; a pickled
// list of storage keys; then, per key, an int64 element count and the raw storage.
func readTorchLegacy(data []byte) (StateDict, error) {
	pos := 0
	plain := func(what string) (any, error) { // a pickle that may name no global at all
		u := &unpickler{data: data[pos:]}
		v, err := u.load()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		pos += u.pos
		return v, nil
	}
	magic, err := plain("magic number")
	if err != nil {
		return nil, err
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, fmt.Errorf("bad magic number (%s): not a torch checkpoint", describe(magic))
	}
	version, err := plain("protocol version")
	if err != nil {
		return nil, err
	}
	if version != int64(1001) {
		return nil, fmt.Errorf("protocol version %v not supported (only 1001)", version)
	}
	sysInfo, err := plain("sys_info")
	if err != nil {
		return nil, err
	}
	info, ok := sysInfo.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("sys_info is a %s, expected a dict", describe(sysInfo))
	}
	if le, ok := info.get("little_endian"); ok && le != true {
		return nil, errors.New("checkpoint was written on a big-endian machine: not supported")
	}
	l := newTorchLoader(true)
	v, n, err := l.unpickle(data[pos:])
	if err != nil {
		return nil, fmt.Errorf("state dict: %w", err)
	}
	pos += n
	keysVal, err := plain("storage keys")
	if err != nil {
		return nil, err
	}
	keys, ok := keysVal.(*pyList)
	if !ok {
		return nil, fmt.Errorf("storage keys are a %s, expected a list", describe(keysVal))
	}
	read := map[string]bool{}
	for _, k := range keys.items {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("storage key is a %s, expected str", describe(k))
		}
		s, ok := l.storages[key]
		if !ok || read[key] {
			return nil, fmt.Errorf("storage key %q listed twice or not used by the state dict", key)
		}
		read[key] = true
		if len(data)-pos < 8 {
			return nil, fmt.Errorf("storage %q: truncated before its element count", key)
		}
		count := int64(binary.LittleEndian.Uint64(data[pos:]))
		pos += 8
		if count != int64(s.numel) {
			return nil, fmt.Errorf("storage %q: file says %d elements, pickle says %d", key, count, s.numel)
		}
		nb := s.numel * s.st.size()
		if nb > len(data)-pos {
			return nil, fmt.Errorf("storage %q: needs %d bytes, only %d left (truncated file?)", key, nb, len(data)-pos)
		}
		s.data = decodeLE(s.st, data[pos:pos+nb])
		pos += nb
	}
	if len(read) != len(l.storages) {
		return nil, fmt.Errorf("the state dict uses %d storages but the file lists %d", len(l.storages), len(read))
	}
	if pos != len(data) {
		return nil, fmt.Errorf("%d trailing bytes after the last storage", len(data)-pos)
	}
	return l.stateDict(v)
}
