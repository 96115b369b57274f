package datasets

import (
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// Sentences is one split of SST-2.
type Sentences struct {
	Split Split
	Text  []string // exactly as written in the file (no unquoting, no unescaping)
	// Labels holds 0 (negative) or 1 (positive); -1 throughout when the file
	// has no label column (GLUE's own test.tsv).
	Labels []int32
}

// Labelled reports whether the split carries labels.
func (s *Sentences) Labelled() bool { return len(s.Labels) > 0 && s.Labels[0] >= 0 }

// LoadSST2 reads Dir(dir)/SST-2/<split>.tsv (split Train, Dev or Test),
// downloading GLUE's SST-2.zip when it is missing unless WithoutDownload is
// given. Train and Dev must be labelled; Test may be labelled (header
// sentence/label or label/content) or not (GLUE's index/sentence).
func LoadSST2(dir string, split Split, opts ...Option) (*Sentences, error) {
	if split != Train && split != Dev && split != Test {
		return nil, fmt.Errorf("datasets: sst2 has no split %q (want %q, %q or %q)", split, Train, Dev, Test)
	}
	cfg := newConfig(opts)
	p, err := cfg.locateSST2(Dir(dir), split)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	s, err := parseSST2(p, b, split != Test)
	if err != nil {
		return nil, err
	}
	s.Split = split
	return s, nil
}

// parseSST2 parses a tab-separated SST-2 file whose first line names the
// columns: the text is "sentence" or "content", the label "label"; other
// columns (GLUE's "index") are ignored. Every line must have the header's
// field count and end with a newline, so a truncated file is an error.
func parseSST2(name string, b []byte, requireLabels bool) (*Sentences, error) {
	if len(b) == 0 {
		return nil, fileErr(name, "empty file")
	}
	data := string(b) // one copy; every sentence is a substring of it
	lines := strings.SplitAfter(data, "\n")
	if last := lines[len(lines)-1]; last == "" {
		lines = lines[:len(lines)-1]
	} else {
		return nil, lineErr(name, len(lines), "no newline at the end of the file (truncated?)")
	}
	header := strings.Split(trimEOL(strings.TrimPrefix(lines[0], "\ufeff")), "\t")
	textCol, labelCol := -1, -1
	seen := map[string]bool{}
	for i, h := range header {
		key := strings.ToLower(strings.TrimSpace(h))
		if seen[key] {
			return nil, lineErr(name, 1, "column %q appears twice in the header", h)
		}
		seen[key] = true
		switch key {
		case "sentence", "content":
			if textCol >= 0 {
				return nil, lineErr(name, 1, "header %q has both a \"sentence\" and a \"content\" column", strings.Join(header, "\t"))
			}
			textCol = i
		case "label":
			labelCol = i
		}
	}
	if textCol < 0 {
		return nil, lineErr(name, 1, "header %q has no \"sentence\" or \"content\" column", strings.Join(header, "\t"))
	}
	if labelCol < 0 && requireLabels {
		return nil, lineErr(name, 1, "header %q has no \"label\" column, and this split must be labelled", strings.Join(header, "\t"))
	}
	n := len(lines) - 1
	if n == 0 {
		return nil, lineErr(name, 1, "a header and no examples")
	}
	s := &Sentences{Text: make([]string, n), Labels: make([]int32, n)}
	fields := make([]string, 0, len(header))
	for i, line := range lines[1:] {
		ln := i + 2
		line = trimEOL(line)
		if !utf8.ValidString(line) {
			return nil, lineErr(name, ln, "invalid UTF-8")
		}
		fields = splitTabs(fields[:0], line)
		if len(fields) != len(header) {
			return nil, lineErr(name, ln, "%d tab-separated fields, the header has %d", len(fields), len(header))
		}
		s.Text[i] = fields[textCol]
		if s.Text[i] == "" {
			return nil, lineErr(name, ln, "empty %s", header[textCol])
		}
		s.Labels[i] = -1
		if labelCol >= 0 {
			switch fields[labelCol] {
			case "0":
				s.Labels[i] = 0
			case "1":
				s.Labels[i] = 1
			default:
				return nil, lineErr(name, ln, "label %q, want 0 or 1", fields[labelCol])
			}
		}
	}
	return s, nil
}

func trimEOL(line string) string {
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r")
}

func splitTabs(dst []string, line string) []string {
	for {
		i := strings.IndexByte(line, '\t')
		if i < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i])
		line = line[i+1:]
	}
}
