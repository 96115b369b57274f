package results

import (
	"fmt"
	"html"
	"math"
	"strings"
	"unicode/utf8"
)

// Table is a rendered-agnostic table: the same cells become Markdown or HTML.
type Table struct {
	Caption string
	Header  []string
	Right   []bool // right-aligned (numeric) columns
	Rows    []TableRow
	Notes   []string // shown under the table
}

// TableRow is one row; Failed rows are runs with no result.
type TableRow struct {
	Cells  []string
	Failed bool
}

// ResultsTable is one data set's results: a row per Summary of that data set
// with accuracies in percent (mean ± sample std over seeds), the difference to
// the baseline in percentage points, the reference (when ref has this data
// set) and the parameter counts and time per epoch.
func ResultsTable(sums []Summary, dataset string, ref *Reference) Table {
	rows := ofDataset(sums, dataset)
	hasBackbone, hasDev := false, false
	for _, s := range rows {
		hasBackbone = hasBackbone || s.Backbone != ""
		hasDev = hasDev || s.Dev.N > 0
	}
	hasRef := ref.has(dataset)

	t := Table{Caption: DatasetTitle(dataset) + " results"}
	col := func(name string, right bool) {
		t.Header = append(t.Header, name)
		t.Right = append(t.Right, right)
	}
	col("Method", false)
	if hasBackbone {
		col("Backbone", false)
	}
	col("Seeds", true)
	if hasDev {
		col("Dev acc. (%)", true)
	}
	col("Test acc. (%)", true)
	col("Δ vs baseline (pts)", true)
	if hasRef {
		col(ref.Name+" (%)", true)
		col("Δ vs ref. (pts)", true)
	}
	col("Trainable", true)
	col("Total", true)
	col("Trainable %", true)
	col("s/epoch", true)
	col("Backend", false)

	for _, s := range rows {
		var c []string
		c = append(c, s.Label())
		if hasBackbone {
			b := s.Backbone
			if b == "" {
				b = "(not recorded)"
			} else if IsFixtureBackbone(b) {
				b += " (fixture, not TinyBERT)"
			}
			c = append(c, b)
		}
		seeds := fmt.Sprint(s.N())
		if len(s.Failures) > 0 {
			seeds += fmt.Sprintf(" + %d failed", len(s.Failures))
		}
		c = append(c, seeds)
		failed := s.N() == 0
		acc := func(st Stat) string {
			if failed {
				return "failed"
			}
			return st.Percent()
		}
		if hasDev {
			c = append(c, acc(s.Dev))
		}
		c = append(c, acc(s.Test))
		c = append(c, deltaVsBaseline(rows, s))
		if hasRef {
			if e, ok := ref.Lookup(dataset, s.Method); ok {
				d := "—" // also for quick or limited runs: not comparable
				if s.Test.N > 0 && len(s.Caveats) == 0 {
					d = formatDelta(100*s.Test.Mean - e.MeanPct)
				}
				c = append(c, e.Percent(), d)
			} else {
				c = append(c, "—", "—")
			}
		}
		if s.TotalParams > 0 {
			c = append(c, formatInt(s.TrainableParams), formatInt(s.TotalParams), fmt.Sprintf("%.2f", s.TrainablePercent()))
		} else {
			c = append(c, "—", "—", "—")
		}
		if s.N() > 0 {
			c = append(c, formatSeconds(s.SecondsPerEpoch))
		} else {
			c = append(c, "—")
		}
		c = append(c, strings.Join(s.Backends, "; "))
		t.Rows = append(t.Rows, TableRow{Cells: c, Failed: failed})
	}

	t.Notes = append(t.Notes, "Accuracies: mean ± sample standard deviation over seeds, in percent; Δ: difference of means in percentage points.")
	if hasRef {
		t.Notes = append(t.Notes, ref.Name+": "+ref.Source+".")
	}
	return t
}

// deltaVsBaseline compares s with the baseline of its data set, backbone,
// variant and caveats, in percentage points.
func deltaVsBaseline(rows []Summary, s Summary) string {
	if s.Method == "baseline" || s.Test.N == 0 {
		return "—"
	}
	for _, b := range rows {
		if b.Method == "baseline" && b.Backbone == s.Backbone && b.Variant == s.Variant &&
			strings.Join(b.Caveats, ";") == strings.Join(s.Caveats, ";") && b.Test.N > 0 {
			return formatDelta(100 * (s.Test.Mean - b.Test.Mean))
		}
	}
	return "—"
}

func formatDelta(pts float64) string {
	if math.Abs(pts) < 0.005 {
		return "0.00"
	}
	return fmt.Sprintf("%+.2f", pts)
}

// Markdown renders the table as GitHub-flavoured Markdown, notes in italics below.
func (t Table) Markdown() string {
	var b strings.Builder
	if t.Caption != "" {
		fmt.Fprintf(&b, "**%s**\n\n", mdEscape(t.Caption))
	}
	b.WriteString("|")
	for _, h := range t.Header {
		b.WriteString(" " + mdEscape(h) + " |")
	}
	b.WriteString("\n|")
	for i := range t.Header {
		if i < len(t.Right) && t.Right[i] {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		b.WriteString("|")
		for _, c := range r.Cells {
			b.WriteString(" " + mdEscape(c) + " |")
		}
		b.WriteString("\n")
	}
	for _, n := range t.Notes {
		fmt.Fprintf(&b, "\n_%s_\n", mdEscape(n))
	}
	return b.String()
}

// mdEscape keeps a cell on one line, its pipes literal and any HTML inert.
// (Underscores inside words, as in TinyBERT_General_4L_312D, are not emphasis in GFM.)
func mdEscape(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// HTML renders the table as an HTML fragment (well-formed XML too); failed
// rows have class "failed", numeric cells class "num".
func (t Table) HTML() string {
	var b strings.Builder
	b.WriteString(`<table class="results">`)
	if t.Caption != "" {
		b.WriteString("<caption>" + esc(t.Caption) + "</caption>")
	}
	b.WriteString("\n<thead><tr>")
	for i, h := range t.Header {
		b.WriteString("<th" + t.align(i) + ">" + esc(h) + "</th>")
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	for _, r := range t.Rows {
		if r.Failed {
			b.WriteString(`<tr class="failed">`)
		} else {
			b.WriteString("<tr>")
		}
		for i, c := range r.Cells {
			b.WriteString("<td" + t.align(i) + ">" + esc(c) + "</td>")
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody></table>\n")
	for _, n := range t.Notes {
		b.WriteString(`<p class="note">` + esc(n) + "</p>\n")
	}
	return b.String()
}

// tableCSS styles tables on pages without the report's stylesheet: text
// left, numbers right (JupyterLab right-aligns every cell, with a selector
// of specificity (0,2,1): these rules need (0,2,2)).
const tableCSS = `<style>
table.results { border-collapse: collapse; margin: 0.5em 0; }
table.results caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
table.results th, table.results td { padding: 0.2em 0.6em; vertical-align: top; }
table.results th:not(.num), table.results td:not(.num) { text-align: left; }
table.results th.num, table.results td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.results tr.failed td { color: #a00; }
p.note { font-size: 0.88em; color: #555; margin: 0.2em 0; }
</style>
`

// StyledHTML is HTML with a small stylesheet of its own, for pages without
// the report's, such as notebooks (the style applies to every results table of the page).
func (t Table) StyledHTML() string { return tableCSS + t.HTML() }

func (t Table) align(i int) string {
	if i < len(t.Right) && t.Right[i] {
		return ` class="num"`
	}
	return ""
}

// esc escapes text for HTML and XML, replacing characters XML cannot hold.
func esc(s string) string {
	if !utf8.ValidString(s) || strings.IndexFunc(s, badXMLRune) >= 0 {
		s = strings.Map(func(r rune) rune {
			if badXMLRune(r) {
				return '\uFFFD'
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
	}
	return html.EscapeString(s)
}

// badXMLRune reports runes outside XML 1.0's Char production.
func badXMLRune(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return false
	case r < 0x20:
		return true
	case r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
		return true
	}
	return r > 0x10FFFF
}

// formatInt writes an integer with thousands separators: 407,050.
func formatInt(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatSeconds keeps three significant digits, at most one decimal above 10 s.
func formatSeconds(s float64) string {
	switch {
	case s >= 100:
		return fmt.Sprintf("%.0f", s)
	case s >= 10:
		return fmt.Sprintf("%.1f", s)
	}
	return fmt.Sprintf("%.2f", s)
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
