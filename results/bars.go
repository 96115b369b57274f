package results

import (
	"fmt"
	"math"
	"strings"
)

// Bar is one bar of a BarChart: a value with an optional ± Err whisker.
type Bar struct {
	Label      string
	Value, Err float64
	// Color is a CSS colour; empty picks SeriesColor(Label).
	Color string
}

// BarChart draws horizontal bars that start at Base — zero, or e.g. a
// parameter's initial value, so that each bar shows how far training moved
// it — and end at their value, which is written beside them.
// The zero Width means 640 pixels; the height follows from the bars.
type BarChart struct {
	Title, XLabel string
	Bars          []Bar
	Width         int
	Base          float64
	// BaseLabel, when set, marks Base with a dashed line and this caption (e.g. "initial α").
	BaseLabel string
}

// SVG renders the chart as a standalone SVG document (no external resources).
func (c BarChart) SVG() string {
	w := float64(c.Width)
	if w <= 0 {
		w = 640
	}
	const barH, gap, valueW = 18.0, 8.0, 120.0
	maxLabel := 0
	for _, b := range c.Bars {
		maxLabel = max(maxLabel, len([]rune(b.Label)))
	}
	labelW := math.Min(float64(maxLabel)*fontSize*charWidth+12, w*0.4)
	top := 14.0
	if c.Title != "" {
		top = 34
	}
	if c.BaseLabel != "" {
		top += 14
	}
	left, right := labelW+8, w-valueW
	if right-left < 60 {
		right = left + 60
	}
	bottom := top + float64(max(len(c.Bars), 1))*(barH+gap)
	h := bottom + 46

	lo, hi := c.Base, c.Base
	for _, b := range c.Bars {
		if finite(b.Value) {
			err := 0.0
			if finite(b.Err) && b.Err > 0 {
				err = b.Err
			}
			lo, hi = math.Min(lo, b.Value-err), math.Max(hi, b.Value+err)
		}
	}
	if pad := (hi - lo) * 0.05; pad > 0 {
		if lo < c.Base {
			lo -= pad
		}
		hi += pad
	}
	xa := linearAxis(lo, hi, false)
	px := func(v float64) float64 { return left + xa.frac(v)*(right-left) }

	var s svgBuilder
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="%s" font-size="%g" role="img" aria-label="%s">`+"\n",
		w, h, w, h, chartFont, fontSize, esc(c.Title))
	s.f("<title>%s</title>\n", esc(c.Title))
	s.f(`<rect x="0" y="0" width="%g" height="%g" fill="#ffffff"/>`+"\n", w, h)
	if c.Title != "" {
		s.f(`<text x="%.1f" y="20" text-anchor="middle" font-size="14" font-weight="bold">%s</text>`+"\n", w/2, esc(c.Title))
	}
	s.f(`<g class="grid" stroke="#e5e5e5" stroke-width="1">` + "\n")
	for _, t := range xa.ticks {
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", px(t.v), top, px(t.v), bottom)
	}
	s.f("</g>\n")
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333333"/>`+"\n", left, bottom, right, bottom)
	s.f(`<g class="x-ticks" text-anchor="middle" fill="#333333">` + "\n")
	for _, t := range xa.ticks {
		s.f(`<text x="%.1f" y="%.1f">%s</text>`+"\n", px(t.v), bottom+16, esc(t.text))
	}
	s.f("</g>\n")
	if c.XLabel != "" {
		s.f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", (left+right)/2, h-10, esc(c.XLabel))
	}
	if len(c.Bars) == 0 {
		s.f(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#777777">no data</text>`+"\n", (left+right)/2, (top+bottom)/2)
	}
	base := px(c.Base)
	for i, b := range c.Bars {
		y := top + float64(i)*(barH+gap) + gap/2
		color := b.Color
		if color == "" {
			color = SeriesColor(b.Label)
		}
		s.f(`<g class="bar"><title>%s</title>`, esc(barTitle(b)))
		s.f(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, left-8, y+barH/2+4, esc(truncate(b.Label, max(int((labelW-12)/(fontSize*charWidth)), 4))))
		end := base
		if finite(b.Value) {
			end = px(b.Value)
			x0, x1 := math.Min(base, end), math.Max(base, end)
			s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%g" fill="%s" fill-opacity="0.85"/>`, x0, y, math.Max(x1-x0, 1), barH, esc(color))
			whisker := end
			if finite(b.Err) && b.Err > 0 {
				e0, e1 := px(b.Value-b.Err), px(b.Value+b.Err)
				s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222222" stroke-width="1.2"/>`, e0, y+barH/2, e1, y+barH/2)
				s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222222"/>`, e0, y+4, e0, y+barH-4)
				s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222222"/>`, e1, y+4, e1, y+barH-4)
				whisker = math.Max(end, e1)
			}
			s.f(`<text x="%.1f" y="%.1f" fill="#222222">%s</text>`, math.Max(whisker, base)+6, y+barH/2+4, esc(formatBarValue(b)))
		}
		s.f("</g>\n")
	}
	if c.BaseLabel != "" {
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555555" stroke-dasharray="4 3"/>`+"\n", base, top-4, base, bottom)
		s.f(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555555" font-size="10">%s</text>`+"\n", base, top-8, esc(c.BaseLabel))
	}
	s.f("</svg>\n")
	return s.String()
}

func formatBarValue(b Bar) string {
	v := strings.TrimSuffix(fmt.Sprintf("%.4g", b.Value), ".")
	if finite(b.Err) && b.Err > 0 {
		v += " ± " + fmt.Sprintf("%.2g", b.Err)
	}
	return v
}

func barTitle(b Bar) string { return b.Label + ": " + formatBarValue(b) }

// initialAlpha is α = 2·sigmoid(s) at the core's initial s = −3 (SPEC §1).
var initialAlpha = 2 / (1 + math.Exp(3))

// LearnedCharts draws what the morph methods of some summaries (one data set
// and backbone) learned, mean ± std over seeds: one chart of the shared
// core's α = 2·sigmoid(s) for the rows that have a core, starting from its
// initial value, and one chart of the per-wrapper scales (starting from 1)
// for each row that has them (SST-2's morph). None when no row learned either.
func LearnedCharts(sums []Summary) []BarChart {
	var out []BarChart
	alpha := BarChart{
		Title:  "Shared core: learned α = 2·sigmoid(s) (mean ± std over seeds)",
		XLabel: "α (the residual branch's weight)", Base: initialAlpha,
		BaseLabel: fmt.Sprintf("initial α = %.4f", initialAlpha),
	}
	for _, s := range sums {
		if s.Learned != nil && s.Learned.Alpha.N > 0 {
			alpha.Bars = append(alpha.Bars, Bar{Label: shortLabel(s), Value: s.Learned.Alpha.Mean, Err: s.Learned.Alpha.Std, Color: SeriesColor(s.Method)})
		}
	}
	if len(alpha.Bars) > 0 {
		out = append(out, alpha)
	}
	for _, s := range sums {
		if s.Learned == nil || len(s.Learned.Scales) == 0 {
			continue
		}
		c := BarChart{
			Title:  "Per-wrapper scales learned by " + shortLabel(s),
			XLabel: "scale (mean ± std over seeds)", Base: 1, BaseLabel: "initial scale 1",
		}
		var names []string
		for _, sc := range s.Learned.Scales {
			names = append(names, sc.Name)
		}
		short, prefix := trimCommonScope(names)
		for i, sc := range s.Learned.Scales {
			c.Bars = append(c.Bars, Bar{Label: short[i], Value: sc.Mean, Err: sc.Std, Color: SeriesColor(s.Method)})
		}
		if prefix != "" {
			c.XLabel += "; wrappers under " + prefix
		}
		out = append(out, c)
	}
	return out
}

// trimCommonScope drops the scope prefix ("a/b/") shared by every name that
// has one ("bert/encoder/layer_2/…" → "layer_2/…"), and returns it; names
// without a scope stay.
func trimCommonScope(names []string) ([]string, string) {
	prefix, first := "", true
	for _, n := range names {
		i := strings.LastIndex(n, "/")
		if i < 0 {
			continue
		}
		if first {
			prefix, first = n[:i+1], false
			continue
		}
		for !strings.HasPrefix(n, prefix) {
			j := strings.LastIndex(strings.TrimSuffix(prefix, "/"), "/")
			prefix = prefix[:j+1] // "" when j == -1
		}
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimPrefix(n, prefix)
	}
	return out, prefix
}
