package results

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var generated = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// pageOutline walks a report page: for each data set section (id "ds-…") the
// first cells of its results table rows and its number of charts and lines.
type sectionOutline struct {
	rows      []string
	svgs      int
	polylines int
}

func outline(t *testing.T, page string) map[string]*sectionOutline {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	out := map[string]*sectionOutline{}
	var cur *sectionOutline
	inResults, inBody, cell, capture := false, false, 0, false
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch el := tok.(type) {
		case xml.StartElement:
			attr := func(name string) string {
				for _, a := range el.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch el.Name.Local {
			case "section":
				if id := attr("id"); strings.HasPrefix(id, "ds-") {
					cur = &sectionOutline{}
					out[strings.TrimPrefix(id, "ds-")] = cur
				}
			case "table":
				// The first results table of a section is its results; the learned table follows the charts.
				inResults = cur != nil && attr("class") == "results" && cur.svgs == 0 && len(cur.rows) == 0
			case "tbody":
				inBody = inResults
			case "tr":
				cell = 0
			case "td":
				cell++
				if inBody && cell == 1 {
					capture = true
					text.Reset()
				}
			case "svg":
				if cur != nil {
					cur.svgs++
				}
			case "polyline":
				if cur != nil {
					cur.polylines++
				}
			}
		case xml.EndElement:
			switch el.Name.Local {
			case "td":
				if capture {
					cur.rows = append(cur.rows, text.String())
					capture = false
				}
			case "table":
				inResults, inBody = false, false
			case "section":
				cur = nil
			}
		case xml.CharData:
			if capture {
				text.Write(el)
			}
		}
	}
	return out
}

// checkSelfContained fails on anything that would make the page fetch something.
func checkSelfContained(t *testing.T, page string) {
	t.Helper()
	for _, el := range wellFormed(t, page) {
		switch el.Name.Local {
		case "script", "link", "img", "iframe", "object", "embed", "audio", "video", "source", "image", "use", "base", "form":
			t.Errorf("element <%s> in a self-contained page", el.Name.Local)
		}
		for _, a := range el.Attr {
			switch strings.ToLower(a.Name.Local) {
			case "src", "href", "srcset", "data", "action", "poster", "background":
				if !strings.HasPrefix(a.Value, "#") {
					t.Errorf("<%s %s=%q>: an external reference", el.Name.Local, a.Name.Local, a.Value)
				}
			}
		}
	}
	lower := strings.ToLower(page)
	for _, bad := range []string{"url(", "@import", "@font-face"} {
		if strings.Contains(lower, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	// The only URLs are the SVG namespace names (identifiers, never fetched).
	rest := strings.ReplaceAll(lower, `xmlns="http://www.w3.org/2000/svg"`, "")
	if strings.Contains(rest, "http://") || strings.Contains(rest, "https://") || strings.Contains(rest, "//cdn") {
		i := max(strings.Index(rest, "http"), 0)
		t.Errorf("page mentions a URL: …%s…", rest[i:min(i+80, len(rest))])
	}
}

func TestReport(t *testing.T) {
	recs := syntheticRecords()
	page, err := Report(recs, ReportOptions{Reference: &PyTorchReference, Generated: generated})
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	checkSelfContained(t, s)

	for _, want := range []string{
		"<!DOCTYPE html>", "<title>MorphReuse-Go results</title>",
		"Generated 2026-03-02 09:30:00 UTC from 27 run records (26 complete, 1 failed)",
		"Test CPU @ 2.0GHz, 2 cores, 8.0 GiB RAM, linux/amd64, go1.26.8 (27 runs)",
		"simplego (go:ops_sequential, GoMLX v0.26.0) (27 runs)",
		"abc1234 (27 runs)",
		// The failed run, its error escaped.
		"<strong>mnist/lora seed 3</strong> failed after 1 epoch(s): <code>out of memory &lt;allocating&gt; &amp; &#34;retrying&#34; failed</code>",
		// SST-2: the backbone, prominently, and what the fixture is.
		`<p class="backbone">Backbone: <code>bert-tiny-fixture</code></p>`,
		"bert-tiny-fixture is a small randomly initialised test fixture, not TinyBERT",
		"cached: the frozen layers&#39; outputs are computed once",
		// Reference next to ours, the learned parameters.
		`<td class="num">97.77 ± 0.24</td>`, "α = 2·sigmoid(s)", `<td class="num">0.1100 ± 0.0100</td>`,
		"scale classifier", `<td class="num">0.7500</td>`,
		"Test accuracy per epoch (mean over seeds)", "Final test accuracy vs trainable parameters",
		"Dev accuracy per epoch (mean over seeds)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	sections := outline(t, s)
	wantRows := map[string][]string{
		"mnist":   {"baseline", "morph-frozen", "morph-trained", "lora"},
		"cifar10": {"baseline", "morph-frozen", "morph-trained", "lora"},
		"sst2": {"baseline (cached+bucketed, fixture backbone)",
			"morph (cached+bucketed, fixture backbone)"},
	}
	if len(sections) != len(wantRows) {
		t.Errorf("%d data set sections, want %d", len(sections), len(wantRows))
	}
	for ds, rows := range wantRows {
		sec := sections[ds]
		if sec == nil {
			t.Errorf("no section for %s", ds)
			continue
		}
		if !reflect.DeepEqual(sec.rows, rows) {
			t.Errorf("%s rows %q, want %q", ds, sec.rows, rows)
		}
		if sec.svgs != 2 || sec.polylines != len(rows) {
			t.Errorf("%s: %d charts, %d lines; want 2 and one line per method", ds, sec.svgs, sec.polylines)
		}
	}
	// Sections come in report order.
	if a, b, c := strings.Index(s, `id="ds-mnist"`), strings.Index(s, `id="ds-cifar10"`), strings.Index(s, `id="ds-sst2"`); !(a < b && b < c) {
		t.Error("sections out of order")
	}
}

func TestReportFailedOnlyAndMixed(t *testing.T) {
	ok := newRecord("cifar10", "baseline", 0, 0.7)
	ok.Commit = "def5678-dirty"
	xla := newRecord("cifar10", "morph-frozen", 0, 0.69)
	xla.Backend = Backend{Name: "xla", Config: "xla:cpu", GoMLX: "v0.26.0"}
	xla.Config["quick"] = true
	f := failedRecord("cifar10", "lora", 0, "killed")
	page, err := Report([]*Record{f, xla, ok}, ReportOptions{Generated: generated})
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	checkSelfContained(t, s)
	for _, want := range []string{
		"ran with uncommitted changes", "more than one backend",
		"Rows with caveats depart from the protocol", "morph-frozen (quick run)",
		`<tr class="failed"><td>lora</td><td class="num">0 + 1 failed</td><td class="num">failed</td>`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The failed run has no point in either chart: two lines, two points.
	if got := outline(t, s)["cifar10"].polylines; got != 2 {
		t.Errorf("%d lines, want 2", got)
	}
}

func TestReportEmptyAndRefusals(t *testing.T) {
	page, err := Report(nil, ReportOptions{Title: "Nothing <yet>"})
	if err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, string(page))
	if !strings.Contains(string(page), "No run records.") || !strings.Contains(string(page), "<h1>Nothing &lt;yet&gt;</h1>") {
		t.Errorf("empty report:\n%s", page)
	}

	dup := []*Record{newRecord("mnist", "lora", 0, 0.9), newRecord("mnist", "lora", 0, 0.91)}
	if _, err := Report(dup, ReportOptions{}); err == nil || !strings.Contains(err.Error(), "two records of mnist/lora seed 0") {
		t.Errorf("duplicate seed: %v", err)
	}
	bad := newRecord("mnist", "lora", 0, 93)
	if _, err := Report([]*Record{bad}, ReportOptions{}); err == nil || !strings.Contains(err.Error(), "not a fraction") {
		t.Errorf("invalid record: %v", err)
	}
	if _, err := README(dup, ReportOptions{}); err == nil {
		t.Error("README accepted a duplicate seed")
	}
}

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out", "report.html")
	opts := ReportOptions{Reference: &PyTorchReference, Generated: generated}
	if err := WriteReport(path, syntheticRecords(), opts); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Report(syntheticRecords(), opts)
	if string(got) != string(want) {
		t.Error("file differs from Report")
	}
	if names := dirNames(t, filepath.Dir(path)); len(names) != 1 {
		t.Errorf("files: %v", names)
	}
}

func TestREADME(t *testing.T) {
	recs := syntheticRecords()
	opts := ReportOptions{Reference: &PyTorchReference, ReportLink: "report.html"}
	md, err := README(recs, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# MorphReuse-Go results\n",
		"Generated from 27 run records (26 complete, 1 failed)",
		"Charts and per-run details: [report.html](report.html).",
		"- **Machine:** Test CPU @ 2.0GHz, 2 cores, 8.0 GiB RAM, linux/amd64, go1.26.8 (27 runs)",
		"- **Backend:** simplego (go:ops_sequential, GoMLX v0.26.0) (27 runs)",
		"- **Commit:** abc1234 (27 runs)",
		"\n## MNIST\n", "\n## CIFAR-10\n", "\n## SST-2\n",
		"| baseline | 3 | 98.00 ± 1.00 | — | 97.77 ± 0.24 | +0.23 | 407,050 |",
		"| lora | 3 + 1 failed | 93.00 ± 1.00 | -5.00 | 92.86 ± 0.38 | +0.14 |",
		"| baseline | 3 | 72.00 ± 2.00 | — | 72.58 | -0.58 |",
		"- mnist/lora seed 3 failed after 1 epoch(s): out of memory &lt;allocating&gt; & \"retrying\" failed",
		"**Backbone: `bert-tiny-fixture`**",
		"> **Not a TinyBERT result.** `bert-tiny-fixture` is a small randomly initialised test fixture, not TinyBERT",
		"Runs on a fixture backbone (such as `bert-tiny-fixture`) are never TinyBERT results.",
		"- bucketed: batches are grouped by length",
		"Configuration: batch_size 128 · epochs 3 · learning_rate 0.001 · optimizer adam",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("README lacks %q", want)
		}
	}
	if strings.Index(md, "## MNIST") > strings.Index(md, "## CIFAR-10") || strings.Index(md, "## CIFAR-10") > strings.Index(md, "## SST-2") {
		t.Error("sections out of order")
	}
	// Made from the records alone: the same records give the same text.
	shuffled := append([]*Record(nil), recs[13:]...)
	shuffled = append(shuffled, recs[:13]...)
	again, _ := README(shuffled, opts)
	if again != md {
		t.Error("README depends on more than the records")
	}
	path := filepath.Join(t.TempDir(), "README.md")
	if err := WriteREADME(path, recs, opts); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != md {
		t.Error("WriteREADME wrote something else")
	}
}

// TestReportSeparatesBackbones: TinyBERT and fixture runs never share a table or chart.
func TestReportSeparatesBackbones(t *testing.T) {
	var recs []*Record
	for _, bb := range []string{"bert-tiny-fixture", "huawei-noah/TinyBERT_General_4L_312D"} {
		for _, m := range []string{"baseline", "morph", "lora"} {
			r := newRecord("sst2", m, 0, 0.8)
			r.Backbone = bb
			recs = append(recs, r)
		}
	}
	page, err := Report(recs, ReportOptions{Generated: generated})
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	checkSelfContained(t, s)
	tiny := strings.Index(s, "<caption>SST-2 results — huawei-noah/TinyBERT_General_4L_312D</caption>")
	fixture := strings.Index(s, "<caption>SST-2 results — bert-tiny-fixture</caption>")
	if tiny < 0 || fixture < tiny {
		t.Errorf("tables: TinyBERT at %d, fixture at %d (want both, TinyBERT first)", tiny, fixture)
	}
	if !strings.Contains(s, "<h3>SST-2 on bert-tiny-fixture (fixture, not TinyBERT)</h3>") || strings.Count(s, "<svg") != 4 {
		t.Errorf("want a heading and two charts per backbone")
	}
	// Within one backbone no two rows share a method: nothing dashed.
	if strings.Contains(s, "stroke-dasharray") {
		t.Error("dashed lines without a second row of the same method")
	}
	md, err := README(recs, ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"### SST-2 on huawei-noah/TinyBERT_General_4L_312D\n\n**Backbone: `huawei-noah/TinyBERT_General_4L_312D`**",
		"### SST-2 on bert-tiny-fixture (fixture, not TinyBERT)\n\n**Backbone: `bert-tiny-fixture`**\n\n> **Not a TinyBERT result.**",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("README lacks %q:\n%s", want, md)
		}
	}
	if strings.Count(md, "| Method |") != 2 {
		t.Error("want one table per backbone")
	}
}

func TestReportCharts(t *testing.T) {
	sums := Aggregate(syntheticRecords())
	mnist := ofDataset(sums, "mnist")
	pc := ParetoChart(mnist)
	if !pc.LogX || len(pc.Series) != 4 {
		t.Fatalf("pareto: %+v", pc)
	}
	mt := pc.Series[2] // morph-trained: 93.00 ± 3.61 at 315,713
	if mt.Name != "morph-trained" || mt.X[0] != 315713 || !near(mt.Y[0], 93) || !near(mt.YErr[0], 100*0.036055512754639895) || mt.Color != MethodColors["morph-trained"] {
		t.Errorf("morph-trained point: %+v", mt)
	}
	ec := EpochChart(mnist)
	if len(ec.Series) != 4 || !reflect.DeepEqual(ec.Series[0].X, []float64{1, 2, 3}) || !near(ec.Series[0].Y[0], 96) {
		t.Errorf("epoch chart: %+v", ec.Series)
	}
	// SST-2 records dev accuracy per epoch: the chart says so.
	if got := EpochChart(ofDataset(sums, "sst2")).YLabel; got != "dev accuracy (%)" {
		t.Errorf("sst2 epoch chart y label %q", got)
	}
	// A group of failed runs has no line and no point.
	f := failedRecord("cifar10", "lora", 0, "x")
	if ec, pc := EpochChart(Aggregate([]*Record{f})), ParetoChart(Aggregate([]*Record{f})); len(ec.Series)+len(pc.Series) != 0 {
		t.Errorf("failed runs charted: %+v %+v", ec.Series, pc.Series)
	}
}
