package tinybert

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Tokenizer reproduces transformers' slow BertTokenizer(do_lower_case=True) of v4.29,
// token for token. The details that matter (all pinned by testdata goldens):
//
//   - Special tokens typed in the text ([CLS], [SEP], [MASK], [PAD], [UNK], exact case)
//     stay single tokens; "[mask]" is ordinary text.
//   - The rest is lower-cased one character at a time (so no Greek final sigma), then
//     cleaned: U+0000, U+FFFD and every C* character except \t \n \r are deleted (joining
//     their neighbours). Whitespace is space, \t \n \r and Z* (Zs, and Zl/Zp on which
//     Python's str.split also splits).
//   - CJK ideographs become words of their own; accents are stripped by NFD and dropping
//     Mn; punctuation (ASCII 33-47, 58-64, 91-96, 123-126 or Unicode P*) splits.
//   - WordPiece is greedy longest-match with "##" continuations; a word over 100
//     characters, or one that cannot be fully covered, becomes a single [UNK].
//
// Each invalid UTF-8 byte decodes to U+FFFD and is therefore deleted. Unicode tables come
// from Go and x/text (Unicode 15.0), not Python 3.11 (14.0): exotic characters may differ.
// A Tokenizer is safe for concurrent use.
type Tokenizer struct {
	Vocab *Vocab
	// MaxInputCharsPerWord: longer words become [UNK] (transformers' default, 100).
	MaxInputCharsPerWord int
}

// NewTokenizer returns an uncased BERT tokenizer over the vocabulary.
func NewTokenizer(v *Vocab) *Tokenizer {
	return &Tokenizer{Vocab: v, MaxInputCharsPerWord: 100}
}

// LoadTokenizer reads vocab.txt and returns its tokenizer.
func LoadTokenizer(vocabPath string) (*Tokenizer, error) {
	v, err := LoadVocab(vocabPath)
	if err != nil {
		return nil, err
	}
	return NewTokenizer(v), nil
}

// Tokenize returns the WordPiece tokens of text (no [CLS]/[SEP]), like
// BertTokenizer.tokenize.
func (t *Tokenizer) Tokenize(text string) []string {
	ids := t.IDs(text)
	toks := make([]string, len(ids))
	for i, id := range ids {
		toks[i] = t.Vocab.Token(id)
	}
	return toks
}

// IDs returns the ids of Tokenize(text).
func (t *Tokenizer) IDs(text string) []int32 {
	s := tokenizeState{t: t}
	return s.appendIDs(nil, text)
}

// tokenizeState holds per-call scratch space, so that a Tokenizer can be shared.
type tokenizeState struct {
	t     *Tokenizer
	word  []byte // current word while scanning
	piece []byte // "##" + candidate during WordPiece
	runes []rune
}

// appendIDs splits text on special tokens and tokenizes the chunks in between.
func (s *tokenizeState) appendIDs(ids []int32, text string) []int32 {
	last := 0
	for i := 0; i < len(text); {
		j := strings.IndexByte(text[i:], '[')
		if j < 0 {
			break
		}
		i += j
		special := ""
		for _, sp := range specialTokens {
			if strings.HasPrefix(text[i:], sp) {
				special = sp
				break
			}
		}
		if special == "" {
			i++
			continue
		}
		ids = s.appendChunk(ids, text[last:i])
		id, _ := s.t.Vocab.ID(special)
		ids = append(ids, id)
		i += len(special)
		last = i
	}
	return s.appendChunk(ids, text[last:])
}

// appendChunk is BasicTokenizer + WordPiece on text without special tokens.
func (s *tokenizeState) appendChunk(ids []int32, text string) []int32 {
	s.word = s.word[:0]
	for _, r := range text {
		switch {
		case r == 0 || r == utf8.RuneError || isControl(r):
			// deleted: the neighbours join
		case isSpace(r):
			ids = s.flushWord(ids)
		case isCJK(r):
			ids = s.flushWord(ids)
			s.word = utf8.AppendRune(s.word, r)
			ids = s.flushWord(ids)
		default:
			s.word = utf8.AppendRune(s.word, r)
		}
	}
	return s.flushWord(ids)
}

// flushWord lower-cases and strips accents from the current word, splits it on
// punctuation and WordPieces each part.
func (s *tokenizeState) flushWord(ids []int32) []int32 {
	if len(s.word) == 0 {
		return ids
	}
	word := s.word
	ascii := true
	for _, b := range word {
		if b >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		for i, b := range word {
			if 'A' <= b && b <= 'Z' {
				word[i] = b + ('a' - 'A')
			}
		}
	} else {
		s.runes = s.runes[:0]
		for _, r := range string(word) {
			s.runes = append(s.runes, unicode.ToLower(r))
		}
		var stripped []byte
		for _, r := range norm.NFD.String(string(s.runes)) {
			if !unicode.Is(unicode.Mn, r) {
				stripped = utf8.AppendRune(stripped, r)
			}
		}
		word = stripped
	}
	start := 0
	for i := 0; i < len(word); {
		r, size := utf8.DecodeRune(word[i:])
		if isPunct(r) {
			ids = s.wordPiece(ids, word[start:i])
			ids = s.wordPiece(ids, word[i:i+size])
			start = i + size
		}
		i += size
	}
	ids = s.wordPiece(ids, word[start:])
	s.word = s.word[:0]
	return ids
}

// wordPiece is greedy longest-match-first WordPiece on one word.
func (s *tokenizeState) wordPiece(ids []int32, word []byte) []int32 {
	if len(word) == 0 {
		return ids
	}
	v := s.t.Vocab
	if utf8.RuneCount(word) > s.t.MaxInputCharsPerWord {
		return append(ids, v.UnkID)
	}
	mark := len(ids)
	for start := 0; start < len(word); {
		limit := v.maxWordBytes
		if start > 0 {
			limit = v.maxSuffixBytes
		}
		end := len(word)
		if end-start > limit {
			end = start + limit
			for end > start && !utf8.RuneStart(word[end]) {
				end--
			}
		}
		found := false
		var id int32
		for end > start {
			if start == 0 {
				id, found = v.ids[string(word[:end])]
			} else {
				s.piece = append(append(s.piece[:0], "##"...), word[start:end]...)
				id, found = v.ids[string(s.piece)]
			}
			if found {
				break
			}
			_, size := utf8.DecodeLastRune(word[start:end])
			end -= size
		}
		if !found {
			return append(ids[:mark], v.UnkID)
		}
		ids = append(ids, id)
		start = end
	}
	return ids
}

// isControl is Python's unicodedata.category(r).startswith("C") minus \t \n \r;
// unassigned code points (Cn) count, as in Python.
func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if r < 0x80 {
		return r < 0x20 || r == 0x7f
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) ||
		!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isSpace: what _is_whitespace maps to " " plus what str.split() then splits on.
func isSpace(r rune) bool {
	if r < 0x80 {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r'
	}
	return unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp)
}

func isPunct(r rune) bool {
	if (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126) {
		return true
	}
	return r >= 0x80 && unicode.In(r, unicode.P)
}

// isCJK covers the CJK Unified Ideographs blocks BERT isolates (not kana or hangul).
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

// Encoding is one model input row of length MaxLen.
type Encoding struct {
	InputIDs      []int32 // [CLS] a [SEP] (b [SEP]) [PAD]...
	AttentionMask []int32 // 1 on real tokens, 0 on padding
	TokenTypeIDs  []int32 // 0 for [CLS] a [SEP], 1 for b [SEP], 0 on padding
	NumTokens     int     // real tokens, [CLS] and [SEP]s included
	Truncated     bool
}

// Encode is tokenizer(text, max_length=maxLen, truncation=True, padding="max_length").
func (t *Tokenizer) Encode(text string, maxLen int) (Encoding, error) {
	if maxLen < 2 {
		return Encoding{}, fmt.Errorf("tinybert: maxLen %d leaves no room for [CLS] and [SEP]", maxLen)
	}
	e := newEncoding(maxLen)
	t.encodeInto(e.InputIDs, e.AttentionMask, e.TokenTypeIDs, &e, text, nil)
	return e, nil
}

// EncodePair is tokenizer(a, b, max_length=maxLen, truncation=True, padding="max_length"):
// truncation "longest_first" removes one token at a time from the longer part (from b
// on ties) until [CLS] a [SEP] b [SEP] fits.
func (t *Tokenizer) EncodePair(a, b string, maxLen int) (Encoding, error) {
	if maxLen < 3 {
		return Encoding{}, fmt.Errorf("tinybert: maxLen %d leaves no room for [CLS] and two [SEP]", maxLen)
	}
	e := newEncoding(maxLen)
	t.encodeInto(e.InputIDs, e.AttentionMask, e.TokenTypeIDs, &e, a, &b)
	return e, nil
}

func newEncoding(maxLen int) Encoding {
	return Encoding{InputIDs: make([]int32, maxLen), AttentionMask: make([]int32, maxLen), TokenTypeIDs: make([]int32, maxLen)}
}

// encodeInto fills one row; the row slices must be len maxLen and zero (or are zeroed).
func (t *Tokenizer) encodeInto(ids, mask, types []int32, e *Encoding, a string, b *string) {
	maxLen := len(ids)
	v := t.Vocab
	s := tokenizeState{t: t}
	ta := s.appendIDs(nil, a)
	var tb []int32
	special := 2
	if b != nil {
		tb = s.appendIDs(nil, *b)
		special = 3
	}
	e.Truncated = len(ta)+len(tb)+special > maxLen
	if b == nil {
		ta = ta[:min(len(ta), maxLen-2)]
	} else {
		for len(ta)+len(tb)+3 > maxLen {
			if len(ta) > len(tb) {
				ta = ta[:len(ta)-1]
			} else {
				tb = tb[:len(tb)-1]
			}
		}
	}
	clear(ids)
	clear(mask)
	clear(types)
	for i := range ids {
		ids[i] = v.PadID
	}
	n := 0
	put := func(id, typ int32) {
		ids[n], mask[n], types[n] = id, 1, typ
		n++
	}
	put(v.ClsID, 0)
	for _, id := range ta {
		put(id, 0)
	}
	put(v.SepID, 0)
	if b != nil {
		for _, id := range tb {
			put(id, 1)
		}
		put(v.SepID, 1)
	}
	e.NumTokens = n
}

// Batch holds a batch of encodings as flat row-major [BatchSize*MaxLen] slices, ready
// to become int32 tensors of shape [BatchSize, MaxLen].
type Batch struct {
	BatchSize, MaxLen int
	InputIDs          []int32
	AttentionMask     []int32
	TokenTypeIDs      []int32
	NumTokens         []int // per row, [CLS]/[SEP] included
	Truncated         []bool
}

// EncodeBatch encodes each text like Encode into one flat batch.
func (t *Tokenizer) EncodeBatch(texts []string, maxLen int) (*Batch, error) {
	if maxLen < 2 {
		return nil, fmt.Errorf("tinybert: maxLen %d leaves no room for [CLS] and [SEP]", maxLen)
	}
	return t.encodeBatch(len(texts), maxLen, func(i int) (string, *string) { return texts[i], nil }), nil
}

// EncodePairBatch encodes each (a[i], b[i]) like EncodePair into one flat batch.
func (t *Tokenizer) EncodePairBatch(a, b []string, maxLen int) (*Batch, error) {
	if len(a) != len(b) {
		return nil, fmt.Errorf("tinybert: %d first sentences but %d second sentences", len(a), len(b))
	}
	if maxLen < 3 {
		return nil, fmt.Errorf("tinybert: maxLen %d leaves no room for [CLS] and two [SEP]", maxLen)
	}
	return t.encodeBatch(len(a), maxLen, func(i int) (string, *string) { return a[i], &b[i] }), nil
}

func (t *Tokenizer) encodeBatch(n, maxLen int, row func(int) (string, *string)) *Batch {
	bt := &Batch{
		BatchSize: n, MaxLen: maxLen,
		InputIDs: make([]int32, n*maxLen), AttentionMask: make([]int32, n*maxLen), TokenTypeIDs: make([]int32, n*maxLen),
		NumTokens: make([]int, n), Truncated: make([]bool, n),
	}
	for i := 0; i < n; i++ {
		lo, hi := i*maxLen, (i+1)*maxLen
		var e Encoding
		a, b := row(i)
		t.encodeInto(bt.InputIDs[lo:hi], bt.AttentionMask[lo:hi], bt.TokenTypeIDs[lo:hi], &e, a, b)
		bt.NumTokens[i], bt.Truncated[i] = e.NumTokens, e.Truncated
	}
	return bt
}
