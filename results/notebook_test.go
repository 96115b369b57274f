package results

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// Tests of the notebooks' displays: LossChart, BarChart/LearnedCharts,
// Findings, OverviewTable and Provenance.

func TestLossChartMeansOverSeeds(t *testing.T) {
	var recs []*Record
	for seed, scale := range []float64{1, 2, 3} {
		r := newRecord("mnist", "lora", seed, 0.9)
		for i := range r.Epochs {
			r.Epochs[i].TrainLoss = scale / float64(i+1) // mean over seeds: 2/(i+1)
		}
		recs = append(recs, r)
	}
	nan := newRecord("mnist", "baseline", 0, 0.9)
	nan.Epochs[2].TrainLoss = math.NaN() // diverged: left out
	recs = append(recs, nan, failedRecord("mnist", "baseline", 1, "boom"))
	c := LossChart(recs)
	if len(c.Series) != 2 || c.Series[0].Name != "baseline" || c.Series[1].Name != "lora" {
		t.Fatalf("series %+v", c.Series)
	}
	lora := c.Series[1]
	for i, want := range []float64{2, 1, 2.0 / 3} {
		if lora.X[i] != float64(i+1) || math.Abs(lora.Y[i]-want) > 1e-12 {
			t.Fatalf("lora point %d = (%v, %v), want (%d, %v)", i, lora.X[i], lora.Y[i], i+1, want)
		}
	}
	if base := c.Series[0]; len(base.X) != 2 || base.Color != MethodColors["baseline"] {
		t.Fatalf("baseline: the failed run and the NaN epoch must not count: %+v", base)
	}
	wellFormed(t, c.SVG())
}

func TestBarChartSVG(t *testing.T) {
	c := BarChart{Title: "α <learned>", XLabel: "α", Base: 0.1, BaseLabel: "initial α",
		Bars: []Bar{{Label: "morph-frozen", Value: 0.18, Err: 0.004}, {Label: "morph-trained", Value: 0.05}, {Label: "nan", Value: math.NaN()}}}
	svg := c.SVG()
	starts := wellFormed(t, svg)
	if n := countElements(starts, "rect"); n != 3 { // background + 2 finite bars
		t.Fatalf("%d rects, want background and 2 bars", n)
	}
	texts := svgTexts(t, svg)
	for _, want := range []string{"α <learned>", "morph-frozen", "0.18 ± 0.004", "0.05", "initial α"} {
		if !contains(texts, want) {
			t.Errorf("texts lack %q: %q", want, texts)
		}
	}
	// A bar goes from Base to its value, leftwards for values below Base.
	var xs []float64
	for _, s := range starts {
		if s.Name.Local == "rect" {
			for _, a := range s.Attr {
				if a.Name.Local == "x" {
					v, err := strconv.ParseFloat(a.Value, 64)
					if err != nil {
						t.Fatal(err)
					}
					xs = append(xs, v)
				}
			}
		}
	}
	if len(xs) != 3 || !(xs[2] < xs[1]) {
		t.Fatalf("bar x positions %v: the bar below Base must start left of the one above", xs)
	}
}

func TestLearnedCharts(t *testing.T) {
	sums := Aggregate(syntheticRecords())
	charts := LearnedCharts(ofDataset(sums, "mnist"))
	if len(charts) != 1 || len(charts[0].Bars) != 2 {
		t.Fatalf("mnist: want one α chart with morph-frozen and morph-trained, got %+v", charts)
	}
	// newRecord's α is 0.1 + 0.01·seed: mean 0.11, std 0.01 over seeds 0..2.
	if b := charts[0].Bars[0]; b.Label != "morph-frozen" || math.Abs(b.Value-0.11) > 1e-12 || math.Abs(b.Err-0.01) > 1e-12 {
		t.Fatalf("α bar %+v", b)
	}
	if math.Abs(charts[0].Base-0.0948517464) > 1e-9 {
		t.Fatalf("initial α %v", charts[0].Base)
	}
	charts = LearnedCharts(ofDataset(sums, "sst2"))
	if len(charts) != 1 || len(charts[0].Bars) != 2 || charts[0].Base != 1 || charts[0].Bars[0].Label != "classifier" {
		t.Fatalf("sst2: want one scales chart (classifier, layer2.query), got %+v", charts)
	}
	if got := LearnedCharts(ofDataset(sums, "cifar10")); len(got) != 1 {
		t.Fatalf("cifar10: %d charts", len(got))
	}
}

func TestFindingsFromSyntheticRecords(t *testing.T) {
	sums := Aggregate(syntheticRecords())
	md := Findings(sums, "mnist", &PyTorchReference)
	for _, want := range []string{
		"**MNIST** — 4 methods, 3 seeds per method (0, 1, 2); backend simplego (go:ops_sequential, GoMLX v0.26.0).",
		"- **baseline**: **98.00 ± 1.00 %** test accuracy; 407,050 of 407,050 parameters trained (100.00 %); PyTorch ref. 97.77 ± 0.24 % (ours +0.23 pts); 10.0 s/epoch.",
		// morph-frozen 96.5 vs 98.0: −1.50 pts; se = sqrt(0.5²/3 + 1²/3) = 0.645 pts → beyond 2 se.
		"- **morph-frozen**: **96.50 ± 0.50 %** test accuracy; -1.50 pts vs the baseline (more than twice its standard error of 0.65 pts: beyond the seed noise); 83,009 of 315,713 parameters trained (26.29 %, 4.90× fewer than the baseline)",
		"PyTorch ref. 96.65 ± 0.17 % (ours -0.15 pts)",
		"**morph-frozen** is the most accurate (-1.50 pts vs the baseline, 26.29 % of its parameters trained); **lora** trains the fewest (1.76 %) at -5.00 pts.",
		"The shared core's gate α = 2·sigmoid(s) moved from 0.095 at initialisation to 0.110 (morph-frozen) and 0.110 (morph-trained).",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("findings lack %q:\n%s", want, md)
		}
	}
	// cifar10 morph-trained 73.0 ± 1.0 vs baseline 72.0 ± 2.0: se = sqrt(1/3 + 4/3) = 1.29 pts > 1.00/2.
	md = Findings(sums, "cifar10", &PyTorchReference)
	if !strings.Contains(md, "+1.00 pts vs the baseline (within twice its standard error of 1.29 pts: not distinguishable with 3 and 3 seeds)") {
		t.Errorf("cifar10 morph-trained is within the noise:\n%s", md)
	}
	// No spread at all: any gap is beyond the noise.
	recs := []*Record{newRecord("cifar10", "baseline", 0, 0.72), newRecord("cifar10", "baseline", 1, 0.72), newRecord("cifar10", "lora", 0, 0.70), newRecord("cifar10", "lora", 1, 0.70)}
	md = Findings(Aggregate(recs), "cifar10", &PyTorchReference)
	if !strings.Contains(md, "-2.00 pts vs the baseline (more than twice its standard error of 0.00 pts: beyond the seed noise)") {
		t.Errorf("zero spread: the gap is beyond the noise:\n%s", md)
	}
	if !strings.Contains(md, "**lora** is both the most accurate (-2.00 pts vs the baseline) and the one that trains the fewest parameters") {
		t.Errorf("one other method: one sentence:\n%s", md)
	}
	// A single method: singular words, one difference to the reference, not a range.
	md = Findings(Aggregate([]*Record{newRecord("cifar10", "baseline", 0, 0.7361)}), "cifar10", &PyTorchReference)
	for _, want := range []string{"**CIFAR-10** — 1 method, 1 seed per method (0)", "Against the PyTorch ref., our accuracy differs by +1.03 pts (baseline)."} {
		if !strings.Contains(md, want) {
			t.Errorf("one method: findings lack %q:\n%s", want, md)
		}
	}
}

func TestFindingsCaveats(t *testing.T) {
	var recs []*Record
	for i, m := range []string{"baseline", "lora"} {
		r := newRecord("mnist", m, 0, 0.5-0.02*float64(i))
		r.Config["quick"], r.Config["limit_train"] = true, 512.0
		recs = append(recs, r)
	}
	md := Findings(Aggregate(recs), "mnist", &PyTorchReference)
	for _, want := range []string{
		"> **Not the full protocol** (quick run, train limited to 512 examples)",
		"> One seed per method",
		"-2.00 pts vs the baseline (one seed: no noise estimate)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("quick findings lack %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "PyTorch ref.") {
		t.Errorf("a quick run is not compared with the reference:\n%s", md)
	}
	md = Findings(Aggregate(syntheticRecords()), "sst2", nil)
	for _, want := range []string{"**SST-2 on `bert-tiny-fixture`**", "> **Not a TinyBERT result.**", "dev accuracy 56.00 %, test accuracy **55.00 %**",
		"morph (cached+bucketed)'s 2 per-wrapper scales ended between 0.750 and 1.250 (they start at 1)."} {
		if !strings.Contains(md, want) {
			t.Errorf("sst2 findings lack %q:\n%s", want, md)
		}
	}
	if got := Findings(nil, "cifar10", nil); got != "No runs of CIFAR-10 yet.\n" {
		t.Errorf("no runs: %q", got)
	}
}

func TestOverviewTableAndProvenance(t *testing.T) {
	recs := syntheticRecords()
	tab := OverviewTable(Aggregate(recs), &PyTorchReference)
	if len(tab.Rows) != 10 {
		t.Fatalf("%d rows, want 4 mnist + 4 cifar10 + 2 sst2", len(tab.Rows))
	}
	first, last := tab.Rows[0].Cells, tab.Rows[9].Cells
	if first[0] != "MNIST" || first[1] != "baseline" || first[2] != "3" || first[3] != "98.00 ± 1.00" || first[4] != "—" || first[5] != "97.77 ± 0.24" {
		t.Errorf("first row %q", first)
	}
	if lora := tab.Rows[3].Cells; lora[1] != "lora" || lora[2] != "3 + 1 failed" || lora[4] != "-5.00" || lora[6] != "7,272" || lora[7] != "1.76" {
		t.Errorf("mnist lora row %q", lora)
	}
	if !strings.HasPrefix(last[0], "SST-2 — bert-tiny-fixture (fixture, not TinyBERT)") || last[5] != "—" {
		t.Errorf("sst2 row %q", last)
	}
	wellFormed(t, "<div>"+tab.HTML()+"</div>")
	if !strings.Contains(tab.Markdown(), "A fixture backbone is a small randomly initialised test fixture") {
		t.Error("the fixture note is missing")
	}

	p := Provenance(recs)
	got := map[string]string{}
	for _, r := range p.Rows {
		got[r.Cells[0]] = r.Cells[1]
	}
	if got["Runs"] != "26 complete, 1 failed" || got["Commit"] != "abc1234 (27 runs)" || !strings.HasPrefix(got["Machine"], "Test CPU @ 2.0GHz, 2 cores") {
		t.Errorf("provenance %q", got)
	}
}

func TestGroups(t *testing.T) {
	recs := syntheticRecords()
	tiny := newRecord("sst2", "baseline", 0, 0.8)
	tiny.Backbone = "huawei-noah/TinyBERT_General_4L_312D"
	groups := Groups(Aggregate(append(recs, tiny)))
	var got []string
	for _, g := range groups {
		got = append(got, fmt.Sprintf("%s/%s:%d", g[0].Dataset, g[0].Backbone, len(g)))
	}
	want := "mnist/:4 cifar10/:4 sst2/huawei-noah/TinyBERT_General_4L_312D:1 sst2/bert-tiny-fixture:2"
	if strings.Join(got, " ") != want {
		t.Fatalf("groups %q, want %q", strings.Join(got, " "), want)
	}
}

func TestTrimCommonScope(t *testing.T) {
	got, prefix := trimCommonScope([]string{"classifier", "bert/encoder/layer_2/attention/self/key", "bert/encoder/layer_3/output/dense"})
	want := []string{"classifier", "layer_2/attention/self/key", "layer_3/output/dense"}
	if strings.Join(got, " ") != strings.Join(want, " ") || prefix != "bert/encoder/" {
		t.Fatalf("got %q, %q; want %q, bert/encoder/", got, prefix, want)
	}
	if got, prefix := trimCommonScope([]string{"a/x", "b/y"}); got[0] != "a/x" || got[1] != "b/y" || prefix != "" {
		t.Fatalf("no common scope: %q %q", got, prefix)
	}
	if got, _ := trimCommonScope([]string{"only/one"}); got[0] != "one" {
		t.Fatalf("one name: %q", got)
	}
}

func TestLineChartXRange(t *testing.T) {
	c := LineChart{IntegerX: true, XFrom: 0, XTo: 3, Series: []Series{{Name: "a", X: []float64{0.5}, Y: []float64{1}}}}
	texts := svgTexts(t, c.SVG())
	if !contains(texts, "0") || !contains(texts, "3") || contains(texts, "-1") {
		t.Fatalf("x axis should span 0..3: %q", texts)
	}
	c.XFrom, c.XTo = 0, 0 // unset: fitted to the data (0.5 alone: -1..2 with integer ticks)
	if texts := svgTexts(t, c.SVG()); contains(texts, "3") {
		t.Fatalf("without a range the axis fits the data: %q", texts)
	}
}

func TestStyledHTML(t *testing.T) {
	tab := Table{Header: []string{"a", "b"}, Right: []bool{false, true}, Rows: []TableRow{{Cells: []string{"x", "1"}}}}
	h := tab.StyledHTML()
	if !strings.HasPrefix(h, "<style>") || !strings.HasSuffix(h, tab.HTML()) || strings.Contains(h, "<script") {
		t.Fatalf("StyledHTML: %s", h)
	}
	wellFormed(t, "<div>"+h+"</div>")
}
