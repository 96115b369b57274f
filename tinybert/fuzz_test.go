package tinybert

// Fuzz targets: every input must give a result or an error, never a panic, and what is
// accepted must be consistent. Crashes found by `go test -fuzz` land in testdata/fuzz/
// and are replayed by plain `go test`.

import (
	"testing"
	"unicode/utf8"
)

// checkStateDict verifies invariants of anything a reader accepted from n input bytes.
func checkStateDict(t *testing.T, sd StateDict, n int) {
	total := 0
	for name, x := range sd {
		numel, err := numElements(x.Shape)
		if err != nil || numel != x.Len() {
			t.Fatalf("%s: shape %v but %d elements (%v)", name, x.Shape, x.Len(), err)
		}
		total += numel
	}
	// Readers never produce more than the storages could hold (2-byte elements at
	// least) times the 4x view budget, plus the budget's 1 Mi slack.
	if total > 2*4*n+1<<20 {
		t.Fatalf("%d elements from %d bytes", total, n)
	}
}

func FuzzSafetensors(f *testing.F) {
	f.Add(smallSafetensors())
	f.Add(rawSafetensors([]byte(`{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"__metadata__":{"format":"pt"}}`), []byte{1, 2, 3, 4}))
	f.Add(rawSafetensors([]byte(`{"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`), make([]byte, 8)))
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := readST(b)
		if err == nil {
			checkStateDict(t, sd, len(b))
		}
	})
}

func FuzzTorchBin(f *testing.F) {
	f.Add(torchZip(f, "archive", stateDictPickle(stridedTensors, false), stridedStorages))
	f.Add(torchLegacy(stateDictPickle(stridedTensors, true), []string{"s0", "s1"}, []int{6, 3}, stridedStorages))
	small := []testTensor{{name: "w", key: "0", class: "HalfStorage", numel: 2, size: []int{2}, stride: []int{1}}}
	f.Add(torchLegacy(stateDictPickle(small, true), []string{"0"}, []int{2}, map[string][]byte{"0": {0, 0x3c, 0, 0xc0}}))
	f.Add(torchZip(f, "archive", hostile("os", "system", false), nil))
	f.Add(hostile("builtins", "eval", true))
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := readTorch(b)
		if err == nil {
			checkStateDict(t, sd, len(b))
		}
	})
}

func FuzzVocab(f *testing.F) {
	f.Add([]byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\n"))
	f.Add([]byte("[PAD]\r\n[UNK]\r[CLS]\n[SEP]\n[MASK]\n[MASK]"))
	f.Add([]byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n中\n##é\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVocab(b)
		if err != nil {
			return
		}
		for _, s := range specialTokens {
			if id, ok := v.ID(s); !ok || v.Token(id) != s {
				t.Fatalf("special %s lost", s)
			}
		}
		tok := NewTokenizer(v)
		for _, text := range []string{"Hello, wörld! 中文 [CLS] hellos", string(b)} {
			for _, id := range tok.IDs(text) {
				if id < 0 || int(id) >= v.Len() {
					t.Fatalf("id %d out of range", id)
				}
			}
		}
	})
}

func FuzzConfig(f *testing.F) {
	f.Add([]byte(tinyBERTStyleConfig))
	f.Add([]byte(`{"hidden_size": 30, "num_attention_heads": 4}`))
	f.Add([]byte(`{"id2label": {"0": "a", "1": "b"}, "num_labels": 2, "classifier_dropout": null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
		if c.HiddenSize%c.NumAttentionHeads != 0 || c.NumParameters(true) <= 0 {
			t.Fatalf("inconsistent config %+v", c)
		}
		for _, k := range c.ExpectedKeys() {
			for _, d := range k.Shape {
				if d <= 0 {
					t.Fatalf("%s has shape %v", k.Name, k.Shape)
				}
			}
		}
	})
}

// FuzzTokenizer runs the real vocabulary on arbitrary text.
func FuzzTokenizer(f *testing.F) {
	tok := testTokenizer(f)
	for _, s := range []string{"café Déjà vu", "[CLS] x [SEP] [mask]", "\x00\u200b\ufeff北京ＦＵＬＬ", "\xff\xfe a"} {
		f.Add(s, "b", 8)
	}
	f.Fuzz(func(t *testing.T, a, b string, maxLen int) {
		ids := tok.IDs(a)
		for _, id := range ids {
			if id < 0 || int(id) >= tok.Vocab.Len() {
				t.Fatalf("id %d", id)
			}
		}
		if len(ids) > utf8.RuneCountInString(a)+len(a) {
			t.Fatalf("%d tokens from %d bytes", len(ids), len(a))
		}
		maxLen = 3 + (maxLen&0xff)%64
		e, err := tok.EncodePair(a, b, maxLen)
		if err != nil || len(e.InputIDs) != maxLen || e.NumTokens > maxLen || e.InputIDs[0] != tok.Vocab.ClsID {
			t.Fatalf("pair encoding %+v %v", e, err)
		}
		for i := range maxLen {
			if (e.AttentionMask[i] == 1) != (i < e.NumTokens) {
				t.Fatalf("mask %v with %d tokens", e.AttentionMask, e.NumTokens)
			}
		}
	})
}
