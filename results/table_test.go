package results

import (
	"strings"
	"testing"
)

func TestResultsTableMarkdown(t *testing.T) {
	sums := Aggregate(syntheticRecords())
	md := ResultsTable(sums, "mnist", &PyTorchReference).Markdown()
	lines := strings.Split(md, "\n")
	wantLines := []string{
		"| Method | Seeds | Test acc. (%) | Δ vs baseline (pts) | PyTorch ref. (%) | Δ vs ref. (pts) | Trainable | Total | Trainable % | s/epoch | Backend |",
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
		"| baseline | 3 | 98.00 ± 1.00 | — | 97.77 ± 0.24 | +0.23 | 407,050 | 407,050 | 100.00 | 10.0 | simplego (go:ops_sequential, GoMLX v0.26.0) |",
		"| morph-frozen | 3 | 96.50 ± 0.50 | -1.50 | 96.65 ± 0.17 | -0.15 | 83,009 | 315,713 | 26.29 | 10.0 | simplego (go:ops_sequential, GoMLX v0.26.0) |",
		"| morph-trained | 3 | 93.00 ± 3.61 | -5.00 | 97.35 ± 0.16 | -4.35 | 315,713 | 315,713 | 100.00 | 10.0 | simplego (go:ops_sequential, GoMLX v0.26.0) |",
		"| lora | 3 + 1 failed | 93.00 ± 1.00 | -5.00 | 92.86 ± 0.38 | +0.14 | 7,272 | 414,322 | 1.76 | 10.0 | simplego (go:ops_sequential, GoMLX v0.26.0) |",
	}
	for _, w := range wantLines {
		found := false
		for _, l := range lines {
			found = found || l == w
		}
		if !found {
			t.Errorf("missing line\n%s\nin\n%s", w, md)
		}
	}
	if !strings.Contains(md, "_PyTorch ref.: PyTorch reference numbers quoted in the MorphReuse-Go project issue") {
		t.Errorf("reference source missing:\n%s", md)
	}

	// CIFAR-10's reference is one seed: no ±.
	cifar := ResultsTable(sums, "cifar10", &PyTorchReference).Markdown()
	if !strings.Contains(cifar, "| morph-frozen | 3 | 71.00 ± 0.00 | -1.00 | 71.05 | -0.05 |") {
		t.Errorf("cifar10 table:\n%s", cifar)
	}
	// Without a reference, no reference columns.
	if plain := ResultsTable(sums, "mnist", nil).Markdown(); strings.Contains(plain, "ref.") {
		t.Errorf("reference columns without a reference:\n%s", plain)
	}
	// SST-2: backbone and dev columns, no reference (there is none), the fixture flagged.
	sst := ResultsTable(sums, "sst2", &PyTorchReference)
	if got := strings.Join(sst.Header, ","); got != "Method,Backbone,Seeds,Dev acc. (%),Test acc. (%),Δ vs baseline (pts),Trainable,Total,Trainable %,s/epoch,Backend" {
		t.Errorf("sst2 header %s", got)
	}
	if row := strings.Join(sst.Rows[1].Cells, " | "); !strings.HasPrefix(row, "morph (cached+bucketed, fixture backbone) | bert-tiny-fixture (fixture, not TinyBERT) | 1 | 56.00 | 55.00 | 0.00 |") {
		t.Errorf("sst2 morph row: %s", row)
	}
}

func TestResultsTableFailedOnly(t *testing.T) {
	ok := newRecord("cifar10", "baseline", 0, 0.7)
	f := failedRecord("cifar10", "lora", 0, "killed")
	tab := ResultsTable(Aggregate([]*Record{ok, f}), "cifar10", &PyTorchReference)
	row := tab.Rows[1]
	if !row.Failed || strings.Join(row.Cells[:6], "|") != "lora|0 + 1 failed|failed|—|70.06|—" {
		t.Errorf("failed row: %+v", row)
	}
	if tab.Rows[0].Failed {
		t.Error("complete row marked failed")
	}
}

// A quick run is no result: its distance to the reference is not shown.
func TestResultsTableQuickRunHasNoReferenceDelta(t *testing.T) {
	q := newRecord("mnist", "lora", 0, 0.5)
	q.Config["quick"] = true
	row := ResultsTable(Aggregate([]*Record{q}), "mnist", &PyTorchReference).Rows[0]
	if got := strings.Join(row.Cells[4:6], "|"); got != "92.86 ± 0.38|—" {
		t.Errorf("reference cells of a quick run: %q (row %q)", got, row.Cells)
	}
}

func TestTableHTML(t *testing.T) {
	sums := Aggregate(syntheticRecords())
	tab := ResultsTable(sums, "mnist", &PyTorchReference)
	tab.Rows = append(tab.Rows, TableRow{Cells: []string{`<script>alert("x")</script> & co`}, Failed: true})
	h := tab.HTML()
	starts := wellFormed(t, "<div>"+h+"</div>")
	if n := countElements(starts, "tr"); n != 1+5 {
		t.Errorf("%d rows, want a header and 5", n)
	}
	if countElements(starts, "script") != 0 || !strings.Contains(h, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co") {
		t.Errorf("cell not escaped:\n%s", h)
	}
	for _, m := range []string{"baseline", "morph-frozen", "morph-trained", "lora"} {
		if !strings.Contains(h, "<tr><td>"+m+"</td>") {
			t.Errorf("no row for %s", m)
		}
	}
	if !strings.Contains(h, `<td class="num">96.50 ± 0.50</td>`) || !strings.Contains(h, `<tr class="failed">`) {
		t.Errorf("html:\n%s", h)
	}
}

func TestMarkdownEscape(t *testing.T) {
	tab := Table{Header: []string{"a|b"}, Rows: []TableRow{{Cells: []string{"x | y\nz <b>"}}}}
	md := tab.Markdown()
	if !strings.Contains(md, `| a\|b |`) || !strings.Contains(md, `| x \| y z &lt;b&gt; |`) {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestFormatters(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{formatInt(0), "0"}, {formatInt(999), "999"}, {formatInt(1000), "1,000"},
		{formatInt(2284994), "2,284,994"}, {formatInt(-1234567), "-1,234,567"},
		{formatSeconds(123.4), "123"}, {formatSeconds(12.34), "12.3"}, {formatSeconds(0.1234), "0.12"},
		{formatBytes(512), "512 B"}, {formatBytes(1536), "1.5 KiB"}, {formatBytes(3 << 30), "3.0 GiB"},
		{formatDelta(0.001), "0.00"}, {formatDelta(-1.5), "-1.50"}, {formatDelta(0.234), "+0.23"},
		{formatDuration(42.25), "42.2s"}, {formatDuration(125), "2m05s"}, {formatDuration(3723), "1h02m"},
		{esc("a\x00b\x1b<"), "a\uFFFDb\uFFFD&lt;"}, {esc("bad \xff utf8"), "bad \uFFFD utf8"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
