package datasets

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// tricky sentences: quotes, backslashes, a lone quote, non-ASCII, spaces kept as written.
var sstTexts = []string{`it 's a "charming" film .`, `a \"quoted\" \n escape`, `" unbalanced`, "crème brûlée ", "  spaced  "}

func sstFile(header string, row func(i int, text string) string) []byte {
	b := []byte(header + "\n")
	for i, s := range sstTexts {
		b = append(b, row(i, s)+"\n"...)
	}
	return b
}

func TestParseSST2Headers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		b        []byte
		labelled bool
	}{
		{"sentence/label", sstFile("sentence\tlabel", func(i int, s string) string { return fmt.Sprintf("%s\t%d", s, i%2) }), true},
		{"label/content", sstFile("label\tcontent", func(i int, s string) string { return fmt.Sprintf("%d\t%s", i%2, s) }), true},
		{"GLUE test index/sentence", sstFile("index\tsentence", func(i int, s string) string { return fmt.Sprintf("%d\t%s", i, s) }), false},
		{"CRLF", sstFile("sentence\tlabel\r", func(i int, s string) string { return fmt.Sprintf("%s\t%d\r", s, i%2) }), true},
		{"BOM, capitalised", sstFile("\ufeffSentence\tLabel", func(i int, s string) string { return fmt.Sprintf("%s\t%d", s, i%2) }), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseSST2("x.tsv", tc.b, tc.labelled)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Text) != len(sstTexts) || len(s.Labels) != len(sstTexts) || s.Labelled() != tc.labelled {
				t.Fatalf("%d texts, %d labels, labelled %v", len(s.Text), len(s.Labels), s.Labelled())
			}
			for i, want := range sstTexts {
				if s.Text[i] != want {
					t.Errorf("text %d = %q, want %q", i, s.Text[i], want)
				}
				wantLabel := int32(i % 2)
				if !tc.labelled {
					wantLabel = -1
				}
				if s.Labels[i] != wantLabel {
					t.Errorf("label %d = %d, want %d", i, s.Labels[i], wantLabel)
				}
			}
		})
	}
}

func TestParseSST2Errors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		b        string
		labelled bool
		line     int
		frags    []string
	}{
		{"empty", "", true, 0, []string{"empty file"}},
		{"header only", "sentence\tlabel\n", true, 1, []string{"no examples"}},
		{"no text column", "text\tlabel\nfoo\t1\n", true, 1, []string{`no "sentence" or "content" column`}},
		{"no label column in train", "index\tsentence\n0\tfoo\n", true, 1, []string{`no "label" column`, "must be labelled"}},
		{"both text columns", "sentence\tcontent\tlabel\na\tb\t1\n", true, 1, []string{"both"}},
		{"duplicate column", "sentence\tlabel\tlabel\na\t1\t1\n", true, 1, []string{`"label" appears twice`}},
		{"label 2", "sentence\tlabel\ngood\t1\nbad\t2\n", true, 3, []string{`label "2", want 0 or 1`}},
		{"label word", "sentence\tlabel\ngood\tpositive\n", true, 2, []string{`label "positive"`}},
		{"label with space", "sentence\tlabel\ngood\t1 \n", true, 2, []string{`label "1 "`}},
		{"empty label", "sentence\tlabel\ngood\t\n", true, 2, []string{`label ""`}},
		{"missing field", "sentence\tlabel\ngood\t1\nno label here\n", true, 3, []string{"1 tab-separated fields, the header has 2"}},
		{"extra field", "sentence\tlabel\ngood\t1\t0\n", true, 2, []string{"3 tab-separated fields"}},
		{"blank line", "sentence\tlabel\ngood\t1\n\nbad\t0\n", true, 3, []string{"1 tab-separated fields"}},
		{"empty sentence", "sentence\tlabel\n\t1\n", true, 2, []string{"empty sentence"}},
		{"truncated in text", "sentence\tlabel\ngood\t1\nthe end is nea", true, 3, []string{"no newline at the end", "truncated"}},
		{"truncated after label", "sentence\tlabel\ngood\t1\nbad\t0", true, 3, []string{"no newline at the end"}},
		{"invalid UTF-8", "sentence\tlabel\nbad \xff byte\t1\n", true, 2, []string{"invalid UTF-8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSST2("x.tsv", []byte(tc.b), tc.labelled)
			wantErr(t, err, append(tc.frags, "x.tsv")...)
			if tc.line > 0 {
				wantLine(t, err, tc.line)
			}
		})
	}
}

func TestLoadSST2(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "SST-2", "train.tsv"), []byte("sentence\tlabel\na\t0\nb\t1\nc\t1\n"))
	writeFile(t, filepath.Join(root, "SST-2", "dev.tsv"), []byte("sentence\tlabel\nd\t0\n"))
	writeFile(t, filepath.Join(root, "SST-2", "test.tsv"), []byte("index\tsentence\n0\te\n1\tf\n"))
	for split, want := range map[Split]string{Train: "[a b c] [0 1 1] true", Dev: "[d] [0] true", Test: "[e f] [-1 -1] false"} {
		s, err := LoadSST2(root, split, noDownload)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(s.Text, s.Labels, s.Labelled()); got != want || s.Split != split {
			t.Fatalf("%s: %s, want %s", split, got, want)
		}
	}
	writeFile(t, filepath.Join(root, "SST-2", "dev.tsv"), []byte("index\tsentence\n0\td\n"))
	_, err := LoadSST2(root, Dev, noDownload)
	wantErr(t, err, filepath.Join(root, "SST-2", "dev.tsv")+": line 1", "must be labelled")

	_, err = LoadSST2(root, "validation", noDownload)
	wantErr(t, err, `sst2 has no split "validation"`)

	missing := t.TempDir()
	_, err = LoadSST2(missing, Dev, noDownload)
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want *MissingError", err)
	}
	wantErr(t, err, "SST-2/dev.tsv (or SST-2.zip) not found in "+missing, "downloads are disabled")

	// GLUE's archive placed by hand is unpacked without any download.
	writeFile(t, filepath.Join(missing, sst2Archive), zipBytes(t, []zipEntry{{name: "SST-2/dev.tsv", body: []byte("sentence\tlabel\nz\t1\n")}}))
	s, err := LoadSST2(missing, Dev, noDownload)
	if err != nil || fmt.Sprint(s.Text, s.Labels) != "[z] [1]" {
		t.Fatalf("from SST-2.zip: %+v, %v", s, err)
	}
}

func FuzzSST2(f *testing.F) {
	f.Add(sstFile("sentence\tlabel", func(i int, s string) string { return fmt.Sprintf("%s\t%d", s, i%2) }), true)
	f.Add(sstFile("label\tcontent", func(i int, s string) string { return fmt.Sprintf("%d\t%s", i%2, s) }), true)
	f.Add(sstFile("index\tsentence", func(i int, s string) string { return fmt.Sprintf("%d\t%s", i, s) }), false)
	f.Add([]byte("sentence\tlabel\r\nx\t1\r\n"), true)
	f.Add([]byte("sentence\tlabel\ngood\t1\nbad\t2\n"), true)
	f.Add([]byte("sentence\tlabel\ngood\t1\nthe end is nea"), true)
	f.Fuzz(func(t *testing.T, b []byte, labelled bool) {
		s, err := parseSST2("fuzz.tsv", b, labelled)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is %T, want *FormatError", err, err)
			}
			return
		}
		if len(s.Text) == 0 || len(s.Text) != len(s.Labels) {
			t.Fatalf("%d texts, %d labels", len(s.Text), len(s.Labels))
		}
		// Every example is one line: none dropped, none invented.
		lines := 0
		for _, c := range b {
			if c == '\n' {
				lines++
			}
		}
		if len(s.Text) != lines-1 {
			t.Fatalf("%d lines after the header, %d examples", lines-1, len(s.Text))
		}
		for i, l := range s.Labels {
			if (labelled && l != 0 && l != 1) || l < -1 || l > 1 || s.Text[i] == "" {
				t.Fatalf("example %d: label %d text %q", i, l, s.Text[i])
			}
		}
	})
}
