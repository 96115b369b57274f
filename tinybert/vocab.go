package tinybert

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"k8s.io/klog/v2"
)

// BERT's special tokens, as spelled in vocab.txt.
const (
	PadToken  = "[PAD]"
	UnkToken  = "[UNK]"
	ClsToken  = "[CLS]"
	SepToken  = "[SEP]"
	MaskToken = "[MASK]"
)

var specialTokens = []string{PadToken, UnkToken, ClsToken, SepToken, MaskToken}

// maxVocab keeps ids in int32 and a fuzzed vocab small.
const maxVocab = 1 << 24

// Vocab is a WordPiece vocabulary: line i of vocab.txt is the token of id i.
type Vocab struct {
	tokens []string
	ids    map[string]int32
	// Ids of the special tokens.
	PadID, UnkID, ClsID, SepID, MaskID int32
	// Longest token in bytes, without and with the "##" prefix: WordPiece never tries
	// longer substrings (they cannot match, so the result is unchanged).
	maxWordBytes, maxSuffixBytes int
}

// LoadVocab reads a vocab.txt.
func LoadVocab(path string) (*Vocab, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := ParseVocab(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// ParseVocab parses vocab.txt contents the way transformers' load_vocab does (one token
// per line, Python universal newlines, a repeated token keeps its last id), but refuses
// what would make a broken tokenizer: no tokens, invalid UTF-8, a missing or repeated
// special token.
func ParseVocab(data []byte) (*Vocab, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("vocab: empty file")
	}
	v := &Vocab{ids: map[string]int32{}}
	special := map[string]int{}
	dups := 0
	for len(data) > 0 {
		i := bytes.IndexAny(data, "\r\n")
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line = data[:i]
			if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			data = data[i+1:]
		}
		id := len(v.tokens)
		if id >= maxVocab {
			return nil, fmt.Errorf("vocab: more than %d tokens", maxVocab)
		}
		if !utf8.Valid(line) {
			return nil, fmt.Errorf("vocab: line %d is not valid UTF-8", id+1)
		}
		tok := string(line)
		if _, ok := v.ids[tok]; ok {
			dups++
			if first, isSpecial := special[tok]; isSpecial {
				return nil, fmt.Errorf("vocab: special token %s on lines %d and %d", tok, first+1, id+1)
			}
		}
		for _, s := range specialTokens {
			if tok == s {
				special[tok] = id
			}
		}
		v.ids[tok] = int32(id)
		v.tokens = append(v.tokens, tok)
		if suffix, ok := strings.CutPrefix(tok, "##"); ok {
			v.maxSuffixBytes = max(v.maxSuffixBytes, len(suffix))
		} else {
			v.maxWordBytes = max(v.maxWordBytes, len(tok))
		}
	}
	var missing []string
	for _, s := range specialTokens {
		if _, ok := special[s]; !ok {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		hint := ""
		if strings.HasPrefix(v.tokens[0], "\ufeff") {
			hint = " (the file starts with a UTF-8 byte-order mark)"
		}
		return nil, fmt.Errorf("vocab: %d lines but no %s token%s: not a BERT vocab.txt?", len(v.tokens), strings.Join(missing, ", "), hint)
	}
	v.PadID, v.UnkID, v.ClsID, v.SepID, v.MaskID = v.ids[PadToken], v.ids[UnkToken], v.ids[ClsToken], v.ids[SepToken], v.ids[MaskToken]
	if dups > 0 {
		klog.V(1).Infof("tinybert: vocab has %d repeated tokens; each keeps its last id, as in transformers", dups)
	}
	return v, nil
}

// Len is the number of lines (ids), including repeated tokens.
func (v *Vocab) Len() int { return len(v.tokens) }

// ID returns the id of a token.
func (v *Vocab) ID(token string) (int32, bool) {
	id, ok := v.ids[token]
	return id, ok
}

// Token returns the token of an id, or "" if out of range.
func (v *Vocab) Token(id int32) string {
	if id < 0 || int(id) >= len(v.tokens) {
		return ""
	}
	return v.tokens[id]
}
