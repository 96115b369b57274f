package results

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// ReportOptions shape Report and README.
type ReportOptions struct {
	// Title of the page; empty means "MorphReuse-Go results".
	Title string
	// Reference, when set, adds its numbers next to ours (e.g. &PyTorchReference).
	Reference *Reference
	// Generated is the time shown as the generation time (HTML only); zero means now.
	Generated time.Time
	// ChartWidth and ChartHeight size the charts in pixels; zero means 560×340.
	ChartWidth, ChartHeight int
	// ReportLink, when set, is a relative link from the README to the HTML report.
	ReportLink string
}

func (o ReportOptions) title() string {
	if o.Title != "" {
		return o.Title
	}
	return "MorphReuse-Go results"
}

// checkRecords validates every record and refuses two records of the same run.
func checkRecords(records []*Record) error {
	var errs []error
	type runKey struct {
		g    groupKey
		seed int
	}
	seen := map[runKey]bool{}
	for i, r := range records {
		if err := Validate(r); err != nil {
			label := fmt.Sprintf("record %d", i)
			if r != nil {
				label += " (" + r.Label() + ")"
			}
			errs = append(errs, fmt.Errorf("results: %s: %w", label, err))
			continue
		}
		k := runKey{groupKeyOf(r), r.Seed}
		if seen[k] {
			errs = append(errs, fmt.Errorf("results: two records of %s: a seed would count twice", r.Label()))
		}
		seen[k] = true
	}
	return errors.Join(errs...)
}

type counted struct {
	value string
	n     int
}

func countDistinct(records []*Record, f func(*Record) string) []counted {
	m := map[string]int{}
	for _, r := range records {
		m[f(r)]++
	}
	out := make([]counted, 0, len(m))
	for v, n := range m {
		out = append(out, counted{v, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].value < out[j].value
	})
	return out
}

func (c counted) String() string {
	if c.n == 1 {
		return c.value + " (1 run)"
	}
	return fmt.Sprintf("%s (%d runs)", c.value, c.n)
}

// runsInfo is what the runs have in common, or not: where, how, which code, when.
type runsInfo struct {
	machines, backends, commits []counted
	start, end                  time.Time
	wall                        float64
	complete, failed            int
	dirty, unknownCommit        bool
}

func describeRuns(records []*Record) runsInfo {
	var in runsInfo
	in.machines = countDistinct(records, func(r *Record) string { return r.Machine.String() })
	in.backends = countDistinct(records, func(r *Record) string { return r.Backend.String() })
	in.commits = countDistinct(records, func(r *Record) string { return r.Commit })
	for _, r := range records {
		if in.start.IsZero() || r.StartedAt.Before(in.start) {
			in.start = r.StartedAt
		}
		if r.FinishedAt.After(in.end) {
			in.end = r.FinishedAt
		}
		in.wall += r.WallSeconds
		if r.Complete() {
			in.complete++
		} else {
			in.failed++
		}
		in.dirty = in.dirty || strings.HasSuffix(r.Commit, "-dirty")
		in.unknownCommit = in.unknownCommit || r.Commit == "unknown"
	}
	return in
}

func (in runsInfo) period() string {
	if in.start.IsZero() {
		return "—"
	}
	const layout = "2006-01-02 15:04 MST"
	s := in.start.UTC().Format(layout)
	if !in.end.IsZero() {
		s += " – " + in.end.UTC().Format(layout)
	}
	return s + fmt.Sprintf(" (%s of compute in total)", formatDuration(in.wall))
}

func joinCounted(cs []counted) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

func formatDuration(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// variantNotes explain the parts a variant name is made of: the SST-2 speed
// options (SPEC §3) and a backbone other than TinyBERT.
var variantNotes = map[string]string{
	"fixture":  "fixture: the backbone is the bert-tiny test fixture (random weights), not TinyBERT",
	"custom":   "custom: the backbone is a BERT other than TinyBERT_General_4L_312D (see the backbone column)",
	"cached":   "cached: the frozen layers' outputs are computed once and reused (no dropout in frozen layers)",
	"bucketed": "bucketed: batches are grouped by length and padded to a fixed small set of lengths",
}

func variantExplanations(sums []Summary) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range sums {
		for _, part := range strings.Split(s.Variant, "+") {
			if note, ok := variantNotes[part]; ok && !seen[part] {
				seen[part] = true
				out = append(out, note)
			}
		}
	}
	return out
}

// configLine lists each configuration key with its distinct values across records.
func configLine(records []*Record) string {
	values := map[string]map[string]bool{}
	for _, r := range records {
		for k, v := range r.Config {
			if values[k] == nil {
				values[k] = map[string]bool{}
			}
			values[k][formatConfigValue(v)] = true
		}
	}
	var parts []string
	for _, k := range sortedKeys(values) {
		parts = append(parts, k+" "+strings.Join(sortedKeys(values[k]), " / "))
	}
	return strings.Join(parts, " · ")
}

func formatConfigValue(v any) string {
	if f, ok := v.(float64); ok {
		return formatG(f)
	}
	if v == nil {
		return "null"
	}
	return fmt.Sprint(v)
}

func recordsOf(records []*Record, dataset string) []*Record {
	var out []*Record
	for _, r := range records {
		if r.Dataset == dataset {
			out = append(out, r)
		}
	}
	return out
}

const fixtureSentence = "is a small randomly initialised test fixture, not TinyBERT: its accuracies check that the code runs and say nothing about MorphReuse on TinyBERT."

// Report renders one self-contained HTML page from records: where the runs
// ran, then per data set the results table, test accuracy per epoch, accuracy
// against trainable parameters, what the morph methods learned, and the
// failed runs. The page has no scripts and no external resources; it is also
// well-formed XML.
func Report(records []*Record, opts ReportOptions) ([]byte, error) {
	if err := checkRecords(records); err != nil {
		return nil, err
	}
	records = append([]*Record(nil), records...)
	SortRecords(records)
	sums := Aggregate(records)
	gen := opts.Generated
	if gen.IsZero() {
		gen = time.Now()
	}
	in := describeRuns(records)

	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
	p("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
	p("<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n", esc(opts.title()), reportCSS)
	p("<h1>%s</h1>\n", esc(opts.title()))
	p("<p class=\"meta\">Generated %s from %d run records (%d complete, %d failed). Made from the records alone; this page needs no network.</p>\n",
		esc(gen.UTC().Format("2006-01-02 15:04:05 UTC")), len(records), in.complete, in.failed)

	if len(records) == 0 {
		p("<p class=\"warning\">No run records.</p>\n</body>\n</html>\n")
		return b.Bytes(), nil
	}

	p("<section id=\"runs\">\n<h2>Where the runs ran</h2>\n<table class=\"kv\">\n")
	kv := func(k string, vs []string) {
		p("<tr><th>%s</th><td>", esc(k))
		if len(vs) == 1 {
			p("%s", esc(vs[0]))
		} else {
			p("<ul>")
			for _, v := range vs {
				p("<li>%s</li>", esc(v))
			}
			p("</ul>")
		}
		p("</td></tr>\n")
	}
	kv("Machine", joinCounted(in.machines))
	kv("Backend", joinCounted(in.backends))
	kv("Commit", joinCounted(in.commits))
	kv("Period", []string{in.period()})
	p("</table>\n")
	if in.dirty {
		p("<p class=\"note\">A commit ending in -dirty ran with uncommitted changes to tracked files.</p>\n")
	}
	if in.unknownCommit {
		p("<p class=\"note\">Commit unknown: the runs could not tell which code they ran.</p>\n")
	}
	if len(in.backends) > 1 {
		p("<p class=\"note\">The runs used more than one backend; rows list the backends of their runs.</p>\n")
	}
	p("</section>\n")

	datasets := Datasets(sums)
	p("<nav><h2>Data sets</h2><ul>")
	for _, ds := range datasets {
		p("<li><a href=\"#ds-%s\">%s</a></li>", esc(ds), esc(DatasetTitle(ds)))
	}
	p("</ul></nav>\n")

	for _, ds := range datasets {
		dsums := ofDataset(sums, ds)
		drecs := recordsOf(records, ds)
		p("<section id=\"ds-%s\">\n<h2>%s</h2>\n", esc(ds), esc(DatasetTitle(ds)))
		if notes := variantExplanations(dsums); len(notes) > 0 {
			p("<p class=\"note\">Speed options (SPEC §3; they keep the results the same):</p>\n<ul class=\"note\">")
			for _, n := range notes {
				p("<li>%s</li>", esc(n))
			}
			p("</ul>\n")
		}
		p("<p class=\"config\"><strong>Configuration:</strong> %s</p>\n", esc(configLine(drecs)))
		// One table and pair of charts per backbone: a fixture run never
		// shares a table or chart with TinyBERT runs.
		groups := byBackbone(dsums)
		for _, g := range groups {
			if len(groups) > 1 {
				p("<h3>%s on %s</h3>\n", esc(DatasetTitle(ds)), esc(backboneTitle(g[0].Backbone)))
			}
			writeBackbone(&b, ds, g[0].Backbone)
			var caveats, warnings []string
			for _, s := range g {
				if len(s.protocolCaveats()) > 0 {
					caveats = append(caveats, s.Label())
				}
				for _, w := range s.Warnings {
					warnings = append(warnings, s.Label()+": "+w)
				}
			}
			if len(caveats) > 0 {
				p("<p class=\"warning\">Rows with caveats depart from the protocol and are not comparable with full runs or the reference: %s.</p>\n", esc(strings.Join(caveats, "; ")))
			}
			for _, w := range warnings {
				p("<p class=\"warning\">%s</p>\n", esc(w))
			}
			t := ResultsTable(g, ds, opts.Reference)
			if g[0].Backbone != "" {
				t.Caption += " — " + g[0].Backbone
			}
			p("%s", t.HTML())
			w, h := opts.chartSize()
			ec, pc := EpochChart(g), ParetoChart(g)
			ec.Width, ec.Height, pc.Width, pc.Height = w, h, w, h
			p("<div class=\"charts\">\n%s%s</div>\n", ec.SVG(), pc.SVG())
			writeLearned(&b, g)
		}
		writeFailures(&b, drecs)
		writeRuns(&b, drecs)
		p("</section>\n")
	}
	p("<footer><p class=\"meta\">Accuracies are fractions of the test (or dev) set in percent, mean ± sample standard deviation over the complete runs' seeds. Failed runs never count in a result.</p></footer>\n")
	p("</body>\n</html>\n")
	return b.Bytes(), nil
}

// byBackbone splits a data set's summaries by backbone, keeping their order.
func byBackbone(sums []Summary) [][]Summary {
	var out [][]Summary
	index := map[string]int{}
	for _, s := range sums {
		i, ok := index[s.Backbone]
		if !ok {
			i = len(out)
			index[s.Backbone] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], s)
	}
	return out
}

func backboneTitle(backbone string) string {
	switch {
	case backbone == "":
		return "an unrecorded backbone"
	case IsFixtureBackbone(backbone):
		return backbone + " (fixture, not TinyBERT)"
	}
	return backbone
}

// writeBackbone shows the backbone prominently, and what a fixture is.
func writeBackbone(b *bytes.Buffer, dataset, backbone string) {
	switch {
	case backbone == "" && dataset == "sst2":
		fmt.Fprintf(b, "<p class=\"warning\">These runs did not record their backbone: they may not be TinyBERT results.</p>\n")
	case backbone != "":
		fmt.Fprintf(b, "<p class=\"backbone\">Backbone: <code>%s</code></p>\n", esc(backbone))
		if IsFixtureBackbone(backbone) {
			fmt.Fprintf(b, "<p class=\"warning\"><strong>%s %s</strong></p>\n", esc(backbone), esc(fixtureSentence))
		}
	}
}

func (o ReportOptions) chartSize() (int, int) {
	w, h := o.ChartWidth, o.ChartHeight
	if w <= 0 {
		w = 560
	}
	if h <= 0 {
		h = 340
	}
	return w, h
}

// curveMetric picks what the epoch chart shows: test accuracy when the runs
// recorded it per epoch, else dev accuracy (SST-2).
func curveMetric(sums []Summary) string {
	for _, s := range sums {
		for _, c := range s.Curve {
			if c.Test.N > 0 {
				return "test"
			}
		}
	}
	return "dev"
}

// dashed tells apart rows that share a method (and so a colour) in one
// chart: those with a variant or caveats are drawn dashed or hollow.
func dashed(sums []Summary, s Summary) bool {
	if s.Variant == "" && len(s.Caveats) == 0 {
		return false
	}
	for _, o := range sums {
		if o.Method == s.Method && o.key() != s.key() {
			return true
		}
	}
	return false
}

// EpochChart is the report's accuracy-per-epoch chart of some summaries
// (one data set and backbone): a line per row, the mean over its complete
// runs; test accuracy, or dev accuracy where no test accuracy was recorded per epoch.
func EpochChart(sums []Summary) LineChart {
	metric := curveMetric(sums)
	c := LineChart{
		Title:  strings.ToUpper(metric[:1]) + metric[1:] + " accuracy per epoch (mean over seeds)",
		XLabel: "epoch", YLabel: metric + " accuracy (%)",
		IntegerX: true,
	}
	for _, s := range sums {
		if s.N() == 0 {
			continue
		}
		se := Series{Name: s.Label(), Color: SeriesColor(s.Method), Dashed: dashed(sums, s)}
		for _, cp := range s.Curve {
			st := cp.Test
			if metric == "dev" {
				st = cp.Dev
			}
			if st.N == 0 {
				continue
			}
			se.X = append(se.X, float64(cp.Epoch))
			se.Y = append(se.Y, 100*st.Mean)
		}
		c.Series = append(c.Series, se)
	}
	return c
}

// ParetoChart is the report's accuracy-against-trainable-parameters chart of
// some summaries (one data set and backbone): a labelled point per row with
// ± std error bars, log x axis.
func ParetoChart(sums []Summary) Scatter {
	metric := "test"
	for _, s := range sums {
		if s.N() > 0 && s.Test.N == 0 {
			metric = "dev"
		}
	}
	c := Scatter{
		Title:  "Final " + metric + " accuracy vs trainable parameters",
		XLabel: "trainable parameters (log scale)", YLabel: metric + " accuracy (%)",
		LogX: true,
	}
	for _, s := range sums {
		st := s.Test
		if metric == "dev" {
			st = s.Dev
		}
		if s.N() == 0 || st.N == 0 || s.TrainableParams <= 0 {
			continue
		}
		c.Series = append(c.Series, Series{
			Name:   s.Label(),
			X:      []float64{float64(s.TrainableParams)},
			Y:      []float64{100 * st.Mean},
			YErr:   []float64{100 * st.Std},
			Labels: []string{s.Method},
			Color:  SeriesColor(s.Method),
			Dashed: dashed(sums, s),
		})
	}
	return c
}

func writeLearned(b *bytes.Buffer, sums []Summary) {
	var cols []Summary
	for _, s := range sums {
		if s.Learned != nil {
			cols = append(cols, s)
		}
	}
	if len(cols) == 0 {
		return
	}
	names, seen := []string{}, map[string]bool{}
	for _, s := range cols {
		for _, sc := range s.Learned.Scales {
			if !seen[sc.Name] {
				seen[sc.Name] = true
				names = append(names, sc.Name)
			}
		}
	}
	sort.Strings(names)
	t := Table{Caption: "What the morph methods learned (mean ± std over seeds)", Header: []string{"Parameter"}, Right: []bool{false}}
	for _, s := range cols {
		t.Header = append(t.Header, s.Label())
		t.Right = append(t.Right, true)
	}
	if slices.ContainsFunc(cols, func(s Summary) bool { return s.Learned.Alpha.N > 0 }) {
		row := []string{"α = 2·sigmoid(s)"}
		for _, s := range cols {
			cell := "—" // no shared core (SST-2's morph)
			if s.Learned.Alpha.N > 0 {
				cell = formatStat(s.Learned.Alpha)
			}
			row = append(row, cell)
		}
		t.Rows = append(t.Rows, TableRow{Cells: row})
	}
	for _, n := range names {
		row := []string{"scale " + n}
		for _, s := range cols {
			cell := "—"
			for _, sc := range s.Learned.Scales {
				if sc.Name == n {
					cell = formatStat(sc.Stat)
				}
			}
			row = append(row, cell)
		}
		t.Rows = append(t.Rows, TableRow{Cells: row})
	}
	t.Notes = []string{"α starts at 2·sigmoid(−3) ≈ 0.0949; scales start at 1."}
	b.WriteString(t.HTML())
}

func formatStat(s Stat) string {
	switch s.N {
	case 0:
		return "—"
	case 1:
		return fmt.Sprintf("%.4f", s.Mean)
	}
	return fmt.Sprintf("%.4f ± %.4f", s.Mean, s.Std)
}

func writeFailures(b *bytes.Buffer, recs []*Record) {
	var failed []*Record
	for _, r := range recs {
		if !r.Complete() {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		return
	}
	fmt.Fprintf(b, "<h3>Failed runs</h3>\n<ul class=\"failed\">\n")
	for _, r := range failed {
		fmt.Fprintf(b, "<li><strong>%s</strong> failed after %d epoch(s): <code>%s</code></li>\n", esc(r.Label()), len(r.Epochs), esc(r.Error))
	}
	fmt.Fprintf(b, "</ul>\n")
}

func writeRuns(b *bytes.Buffer, recs []*Record) {
	t := Table{
		Header: []string{"Method", "Seed", "Status", "Test acc. (%)", "Dev acc. (%)", "Epochs", "Wall time", "Peak RSS", "Backend", "Commit", "Started (UTC)"},
		Right:  []bool{false, true, false, true, true, true, true, true, false, false, false},
	}
	acc := func(a *float64) string {
		if a == nil {
			return "—"
		}
		return fmt.Sprintf("%.2f", 100**a)
	}
	for _, r := range recs {
		label := r.Method
		if r.Variant != "" {
			label += " (" + r.Variant + ")"
		}
		if c := r.Caveats(); len(c) > 0 {
			label += " [" + strings.Join(c, ", ") + "]"
		}
		rss := "—"
		if r.PeakRSSBytes > 0 {
			rss = formatBytes(r.PeakRSSBytes)
		}
		t.Rows = append(t.Rows, TableRow{Failed: !r.Complete(), Cells: []string{
			label, fmt.Sprint(r.Seed), r.Status, acc(r.FinalTestAccuracy), acc(r.FinalDevAccuracy),
			fmt.Sprint(len(r.Epochs)), formatDuration(r.WallSeconds), rss, r.Backend.String(), r.Commit,
			r.StartedAt.UTC().Format("2006-01-02 15:04"),
		}})
	}
	fmt.Fprintf(b, "<details><summary>Individual runs (%d)</summary>\n%s</details>\n", len(recs), t.HTML())
}

// WriteReport writes Report's page to path atomically.
func WriteReport(path string, records []*Record, opts ReportOptions) error {
	page, err := Report(records, opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	return writeFileAtomic(path, page, 0o644)
}

// reportCSS styles the page; it holds no '<' or '&' so the page stays well-formed XML.
const reportCSS = `
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
caption { text-align: left; font-weight: bold; padding: 0.3rem 0; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.55rem; vertical-align: top; }
th { background: #f5f5f5; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.failed td { color: #a00; background: #fff4f4; }
table.kv th { width: 8rem; }
table.kv ul { margin: 0; padding-left: 1.1rem; }
.meta { color: #666; }
.note { color: #555; font-size: 0.88rem; }
.warning { background: #fff6e0; border-left: 4px solid #e0a000; padding: 0.4rem 0.7rem; }
.backbone { font-size: 1.1rem; }
.config { font-size: 0.88rem; color: #444; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.charts svg { border: 1px solid #eee; max-width: 100%; height: auto; }
ul.failed li { color: #a00; }
nav ul { list-style: none; padding: 0; display: flex; gap: 1.2rem; }
code { background: #f3f3f3; padding: 0 0.2rem; }
`
