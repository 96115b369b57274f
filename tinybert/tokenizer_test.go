package tinybert

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

var fixtureTokenizer = sync.OnceValues(func() (*Tokenizer, error) {
	return LoadTokenizer(filepath.Join(fixtureDir, VocabFile))
})

func testTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := fixtureTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

func toInt32(xs []int64) []int32 {
	out := make([]int32, len(xs))
	for i, x := range xs {
		out[i] = int32(x)
	}
	return out
}

func TestTokenizerGoldens(t *testing.T) {
	tok := testTokenizer(t)
	var g struct {
		Cases []struct {
			Text     string   `json:"text"`
			Tokens   []string `json:"tokens"`
			TokenIDs []int64  `json:"token_ids"`
			InputIDs []int64  `json:"input_ids"`
		} `json:"cases"`
		Truncation []struct {
			TextA         string   `json:"text_a"`
			TextB         *string  `json:"text_b"`
			MaxLength     int      `json:"max_length"`
			Tokens        []string `json:"tokens"`
			InputIDs      []int64  `json:"input_ids"`
			TokenTypeIDs  []int64  `json:"token_type_ids"`
			AttentionMask []int64  `json:"attention_mask"`
		} `json:"truncation_cases"`
	}
	readJSON(t, "tokenizer_goldens.json", &g)
	if len(g.Cases) != 30 || len(g.Truncation) != 4 {
		t.Fatalf("%d cases and %d truncation cases, want 30 and 4", len(g.Cases), len(g.Truncation))
	}
	for i, c := range g.Cases {
		if got := tok.Tokenize(c.Text); !slices.Equal(got, c.Tokens) {
			t.Errorf("case %d %q:\n got %q\nwant %q", i, c.Text, got, c.Tokens)
		}
		if got := tok.IDs(c.Text); !slices.Equal(got, toInt32(c.TokenIDs)) {
			t.Errorf("case %d ids: got %v want %v", i, got, c.TokenIDs)
		}
		// input_ids are untruncated: encode with room to spare and cut the padding.
		e, err := tok.Encode(c.Text, len(c.InputIDs)+5)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.InputIDs[:e.NumTokens]; !slices.Equal(got, toInt32(c.InputIDs)) || e.Truncated {
			t.Errorf("case %d input_ids: got %v want %v", i, got, c.InputIDs)
		}
	}
	for i, c := range g.Truncation {
		var e Encoding
		var err error
		if c.TextB == nil {
			e, err = tok.Encode(c.TextA, c.MaxLength)
		} else {
			e, err = tok.EncodePair(c.TextA, *c.TextB, c.MaxLength)
		}
		if err != nil {
			t.Fatal(err)
		}
		var toks []string
		for _, id := range e.InputIDs {
			toks = append(toks, tok.Vocab.Token(id))
		}
		if !slices.Equal(toks, c.Tokens) || !slices.Equal(e.InputIDs, toInt32(c.InputIDs)) ||
			!slices.Equal(e.TokenTypeIDs, toInt32(c.TokenTypeIDs)) || !slices.Equal(e.AttentionMask, toInt32(c.AttentionMask)) {
			t.Errorf("truncation case %d:\n got %q %v %v\nwant %q %v %v", i, toks, e.TokenTypeIDs, e.AttentionMask,
				c.Tokens, c.TokenTypeIDs, c.AttentionMask)
		}
	}
}

type sst2Goldens struct {
	MaxLength     int        `json:"max_length"`
	Sentences     []string   `json:"sentences"`
	NumTokens     []int      `json:"num_tokens_without_padding"`
	Truncated     []bool     `json:"truncated"`
	Tokens        [][]string `json:"tokens"`
	InputIDs      [][]int64  `json:"input_ids"`
	AttentionMask [][]int64  `json:"attention_mask"`
	TokenTypeIDs  [][]int64  `json:"token_type_ids"`
	Pairs         struct {
		Indices       [][2]int   `json:"pair_indices"`
		Tokens        [][]string `json:"tokens"`
		InputIDs      [][]int64  `json:"input_ids"`
		AttentionMask [][]int64  `json:"attention_mask"`
		TokenTypeIDs  [][]int64  `json:"token_type_ids"`
	} `json:"pairs"`
}

func TestSST2Goldens(t *testing.T) {
	tok := testTokenizer(t)
	var g sst2Goldens
	readJSON(t, "sst2_inputs.json", &g)
	if len(g.Sentences) != 16 || len(g.Pairs.Indices) != 2 || g.MaxLength != 64 {
		t.Fatalf("unexpected golden file: %d sentences, %d pairs, max_length %d", len(g.Sentences), len(g.Pairs.Indices), g.MaxLength)
	}
	b, err := tok.EncodeBatch(g.Sentences, g.MaxLength)
	if err != nil {
		t.Fatal(err)
	}
	if b.BatchSize != 16 || b.MaxLen != 64 || len(b.InputIDs) != 16*64 {
		t.Fatalf("batch shape %d x %d, %d ids", b.BatchSize, b.MaxLen, len(b.InputIDs))
	}
	for i, s := range g.Sentences {
		row := func(x []int32) []int32 { return x[i*64 : (i+1)*64] }
		if !slices.Equal(row(b.InputIDs), toInt32(g.InputIDs[i])) || !slices.Equal(row(b.AttentionMask), toInt32(g.AttentionMask[i])) ||
			!slices.Equal(row(b.TokenTypeIDs), toInt32(g.TokenTypeIDs[i])) || b.NumTokens[i] != g.NumTokens[i] || b.Truncated[i] != g.Truncated[i] {
			t.Errorf("sentence %d %q:\n got %v\nwant %v", i, s, row(b.InputIDs), g.InputIDs[i])
		}
		// The single-row API gives the same row.
		e, _ := tok.Encode(s, 64)
		if !slices.Equal(e.InputIDs, row(b.InputIDs)) {
			t.Errorf("Encode and EncodeBatch differ on sentence %d", i)
		}
		var toks []string
		for _, id := range e.InputIDs {
			toks = append(toks, tok.Vocab.Token(id))
		}
		if !slices.Equal(toks, g.Tokens[i]) {
			t.Errorf("sentence %d tokens %q", i, toks)
		}
	}
	var as, bs []string
	for _, p := range g.Pairs.Indices {
		as, bs = append(as, g.Sentences[p[0]]), append(bs, g.Sentences[p[1]])
	}
	pb, err := tok.EncodePairBatch(as, bs, 64)
	if err != nil {
		t.Fatal(err)
	}
	for i := range as {
		row := func(x []int32) []int32 { return x[i*64 : (i+1)*64] }
		if !slices.Equal(row(pb.InputIDs), toInt32(g.Pairs.InputIDs[i])) || !slices.Equal(row(pb.AttentionMask), toInt32(g.Pairs.AttentionMask[i])) ||
			!slices.Equal(row(pb.TokenTypeIDs), toInt32(g.Pairs.TokenTypeIDs[i])) {
			t.Errorf("pair %d:\n got %v %v\nwant %v %v", i, row(pb.InputIDs), row(pb.TokenTypeIDs), g.Pairs.InputIDs[i], g.Pairs.TokenTypeIDs[i])
		}
	}
}

func TestEncodeEdges(t *testing.T) {
	tok := testTokenizer(t)
	if _, err := tok.Encode("x", 1); err == nil {
		t.Error("maxLen 1 accepted")
	}
	if _, err := tok.EncodePair("x", "y", 2); err == nil {
		t.Error("pair maxLen 2 accepted")
	}
	if _, err := tok.EncodePairBatch([]string{"a"}, nil, 8); err == nil {
		t.Error("mismatched pair batch accepted")
	}
	// maxLen 2: only [CLS] [SEP] fit.
	e, _ := tok.Encode("hello world", 2)
	if !slices.Equal(e.InputIDs, []int32{101, 102}) || !e.Truncated {
		t.Errorf("maxLen 2: %+v", e)
	}
	// Pair truncation from the longer side, b on ties, down to maxLen 3.
	e, _ = tok.EncodePair("a b c", "d", 3)
	if !slices.Equal(e.InputIDs, []int32{101, 102, 102}) || !slices.Equal(e.TokenTypeIDs, []int32{0, 0, 1}) {
		t.Errorf("pair maxLen 3: %+v", e)
	}
	// (3,1) tokens, 2 to remove: both come from the longer first part.
	e, _ = tok.EncodePair("a b c", "d", 5)
	aID, _ := tok.Vocab.ID("a")
	dID, _ := tok.Vocab.ID("d")
	if !slices.Equal(e.InputIDs, []int32{101, aID, 102, dID, 102}) || !slices.Equal(e.TokenTypeIDs, []int32{0, 0, 0, 1, 1}) {
		t.Errorf("pair maxLen 5: %v %v", e.InputIDs, e.TokenTypeIDs)
	}
	// An empty batch is fine.
	if b, err := tok.EncodeBatch(nil, 8); err != nil || b.BatchSize != 0 || len(b.InputIDs) != 0 {
		t.Errorf("empty batch: %+v %v", b, err)
	}
}

// TestTokenizerBehaviours pins behaviours the goldens imply but do not show directly.
func TestTokenizerBehaviours(t *testing.T) {
	tok := testTokenizer(t)
	for text, want := range map[string][]string{
		// Special tokens split words apart wherever they are (transformers' trie split).
		"foo[SEP]bar": {"foo", "[SEP]", "bar"},
		"[[CLS]]":     {"[", "[CLS]", "]"},
		"[CLS":        {"[", "cl", "##s"},
		// Line and paragraph separators split like spaces (Python's str.split).
		"a\u2028b\u2029c": {"a", "b", "c"},
		// Invalid UTF-8 decodes to U+FFFD, which is deleted, joining its neighbours.
		"ab\xffcd": {"abc", "##d"},
		// A word of exactly 100 characters is still WordPieced, 101 is [UNK].
		strings.Repeat("a", 100): nil,
		strings.Repeat("a", 101): {"[UNK]"},
	} {
		got := tok.Tokenize(text)
		if want == nil {
			if len(got) == 0 || slices.Contains(got, "[UNK]") {
				t.Errorf("%q: %v", text, got)
			}
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: got %q want %q", text, got, want)
		}
	}
}

func TestTokenizerConcurrent(t *testing.T) {
	tok := testTokenizer(t)
	want := tok.Tokenize("Déjà vu, 北京 supercalifragilistic!")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if got := tok.Tokenize("Déjà vu, 北京 supercalifragilistic!"); !slices.Equal(got, want) {
					t.Error("concurrent tokenization differs")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func loadSST2Sample(b testing.TB) []string {
	f, err := os.Open("testdata/sst2_dev_200.txt")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// BenchmarkEncodeBatchSST2 measures tokenization throughput on 200 real SST-2 dev
// sentences, padded to 64 like the experiments.
func BenchmarkEncodeBatchSST2(b *testing.B) {
	tok := testTokenizer(b)
	lines := loadSST2Sample(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tok.EncodeBatch(lines, 64); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "sentences/s")
}
