package tinybert

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Bad input through the public file loaders: one error line that names the
// file and the problem, and no allocation proportional to what a corrupt
// header claims.

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFileLoadersNameTheFile(t *testing.T) {
	const specials = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
	loadConfig := func(p string) error { _, err := LoadConfig(p); return err }
	loadVocab := func(p string) error { _, err := LoadVocab(p); return err }
	loadST := func(p string) error { _, err := ReadSafetensorsFile(p); return err }
	loadTorch := func(p string) error { _, err := ReadTorchFile(p); return err }
	data := f32Bytes(1, 2, 3, 4)
	for _, c := range []struct {
		name, file string
		load       func(string) error
		content    []byte
		want       []string
	}{
		{"negative sizes", "config.json", loadConfig, []byte(`{"hidden_size": -312, "num_attention_heads": -12, "intermediate_size": -1, "vocab_size": -5}`),
			[]string{"invalid config", "hidden_size = -312 must be in [1,", "num_attention_heads = -12", "intermediate_size = -1", "vocab_size = -5"}},
		{"hidden not divisible by heads", "config.json", loadConfig, []byte(`{"hidden_size": 312, "num_attention_heads": 5}`),
			[]string{"hidden_size 312 is not divisible by num_attention_heads 5"}},
		{"zero heads", "config.json", loadConfig, []byte(`{"num_attention_heads": 0}`), []string{"num_attention_heads = 0"}},
		{"duplicate special token", "vocab.txt", loadVocab, []byte(specials + "hello\n[SEP]\n"), []string{"special token [SEP] on lines 4 and 7"}},
		{"missing special tokens", "vocab.txt", loadVocab, []byte("[PAD]\n[UNK]\nhello\n"), []string{"no [CLS], [SEP], [MASK] token"}},
		{"absurd header length", "model.safetensors", loadST, binary.LittleEndian.AppendUint64(nil, 1<<62), []string{"exceeds the 100 MB limit"}},
		{"overlapping offsets", "model.safetensors", loadST, safetensorsBytes([]stEntry{
			{name: "a", dtype: "F32", shape: []int{2}, data: data[:8], offsets: []int64{0, 8}},
			{name: "b", dtype: "F32", shape: []int{2}, data: data[8:], offsets: []int64{4, 12}},
		}), []string{`tensor "b": data_offsets [4, 12] overlap tensor "a"`}},
		{"offsets out of range", "model.safetensors", loadST, safetensorsBytes([]stEntry{
			{name: "a", dtype: "F32", shape: []int{4}, data: data, offsets: []int64{0, 1 << 40}},
		}), []string{"go past the 16-byte data section"}},
		{"pickle calls os.system", "pytorch_model.bin", loadTorch, torchZip(t, "archive", hostile("os", "system", false), nil),
			[]string{"refusing global os.system", "only the globals that rebuild tensors"}},
		{"legacy pickle calls eval", "pytorch_model.bin", loadTorch, torchLegacy(hostile("builtins", "eval", true), nil, nil, nil),
			[]string{"legacy torch checkpoint", "refusing global builtins.eval"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, c.file, c.content)
			err := c.load(path)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range append([]string{path + ": "}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	t.Run("unsafe pickle error type", func(t *testing.T) {
		_, err := ReadTorchFile(writeTemp(t, "pytorch_model.bin", torchZip(t, "archive", hostile("subprocess", "Popen", true), nil)))
		var unsafe *UnsafePickleError
		if !errors.As(err, &unsafe) || unsafe.Global != "subprocess.Popen" {
			t.Fatalf("error %v (%T), want an *UnsafePickleError for subprocess.Popen", err, err)
		}
	})
}

// TestHostileSizesDoNotAllocate: sizes claimed by a corrupt or crafted file
// (header length, tensor dimensions, offsets, storage element counts) are
// checked against the file before anything of that size is allocated.
func TestHostileSizesDoNotAllocate(t *testing.T) {
	const huge = 1 << 40
	data := f32Bytes(1, 2, 3, 4)
	// 2^30 floats (4 GiB): the test pickle writer's ints are 32-bit.
	big := []testTensor{{name: "w", key: "0", class: "FloatStorage", numel: 1 << 30, size: []int{1 << 30}, stride: []int{1}}}
	for _, c := range []struct {
		name, file string
		content    []byte
		want       string
	}{
		{"safetensors header length just under the limit", "model.safetensors",
			append(binary.LittleEndian.AppendUint64(nil, 99_999_999), `{}`...), "only 2 bytes follow"},
		{"safetensors 2^40 elements", "model.safetensors", safetensorsBytes([]stEntry{
			{name: "a", dtype: "F32", shape: []int{1 << 20, 1 << 20}, data: data, offsets: []int64{0, 4 * huge}},
		}), "go past"},
		{"safetensors 2^60 elements", "model.safetensors", safetensorsBytes([]stEntry{
			{name: "a", dtype: "F32", shape: []int{1 << 30, 1 << 30}, data: data},
		}), "more than 1099511627776 elements"},
		{"torch zip storage of 2^30 floats", "pytorch_model.bin",
			torchZip(t, "archive", stateDictPickle(big, false), map[string][]byte{"0": data}), "more than the"},
		{"torch legacy storage of 2^30 floats", "pytorch_model.bin",
			torchLegacy(stateDictPickle(big, true), []string{"0"}, []int{1 << 30}, map[string][]byte{"0": data}), `legacy torch checkpoint: storage "0": needs 4294967296 bytes, only 16 left`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, c.file, c.content)
			read := ReadTorchFile
			if strings.HasSuffix(c.file, ".safetensors") {
				read = ReadSafetensorsFile
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := read(path)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming the file and containing %q", err, c.want)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Fatalf("allocated %d MiB for a %d-byte file", n>>20, len(c.content))
			}
		})
	}
}
