package results

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
)

// Series is one named set of points of a chart.
type Series struct {
	Name string
	X, Y []float64
	// YErr, when set, draws ± YErr[i] error bars.
	YErr []float64
	// Labels, when set, writes Labels[i] next to point i (Scatter only).
	Labels []string
	// Color is a CSS colour; empty picks SeriesColor(Name).
	Color string
	// Dashed draws the line dashed (LineChart) or the marker hollow (Scatter).
	Dashed bool
}

// LineChart draws each series as a line through its points, with markers.
// The zero values of Width and Height mean 640×360 pixels.
type LineChart struct {
	Title, XLabel, YLabel string
	Series                []Series
	Width, Height         int
	// IntegerX puts x ticks on whole numbers only (epochs).
	IntegerX bool
	// XFrom, XTo, when XTo > XFrom, make the x axis cover at least [XFrom, XTo]
	// (e.g. epochs 0 to the last while only the first ones have data).
	XFrom, XTo float64
}

// Scatter draws each series as markers, optionally on logarithmic axes
// (ticks at 10^k): accuracy against trainable parameters.
type Scatter struct {
	Title, XLabel, YLabel string
	Series                []Series
	Width, Height         int
	LogX, LogY            bool
}

// MethodColors is the fixed colour of each method in every chart.
var MethodColors = map[string]string{
	"baseline":      "#1f77b4",
	"morph-frozen":  "#ff7f0e",
	"morph-trained": "#2ca02c",
	"morph":         "#9467bd",
	"lora":          "#d62728",
}

var otherColors = []string{"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#843c39"}

// SeriesColor is the colour of a series name: its method's colour (a name
// such as "morph (cached+bucketed)" counts as "morph"), else a fixed colour
// derived from the name. Charts give series that have neither an explicit
// nor a method colour distinct colours of their own (see seriesColors).
func SeriesColor(name string) string {
	if c, ok := methodColor(name); ok {
		return c
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return otherColors[h.Sum32()%uint32(len(otherColors))]
}

func methodColor(name string) (string, bool) {
	if c, ok := MethodColors[name]; ok {
		return c, true
	}
	if m, _, ok := strings.Cut(name, " "); ok {
		if c, ok := MethodColors[m]; ok {
			return c, true
		}
	}
	return "", false
}

// seriesColors is the colour of each series of one chart: its own, else its
// method's, else the next unused colour (so no two such series collide).
func seriesColors(series []Series) []string {
	colors := make([]string, len(series))
	next := 0
	for i, s := range series {
		switch c, ok := methodColor(s.Name); {
		case s.Color != "":
			colors[i] = s.Color
		case ok:
			colors[i] = c
		default:
			colors[i] = otherColors[next%len(otherColors)]
			next++
		}
	}
	return colors
}

// SVG renders the chart as a standalone SVG document (no external resources).
func (c LineChart) SVG() string {
	return chart{
		title: c.Title, xLabel: c.XLabel, yLabel: c.YLabel, series: c.Series,
		width: c.Width, height: c.Height, integerX: c.IntegerX, lines: true, xFrom: c.XFrom, xTo: c.XTo,
	}.svg()
}

// SVG renders the chart as a standalone SVG document (no external resources).
func (c Scatter) SVG() string {
	return chart{
		title: c.Title, xLabel: c.XLabel, yLabel: c.YLabel, series: c.Series,
		width: c.Width, height: c.Height, logX: c.LogX, logY: c.LogY,
	}.svg()
}

type chart struct {
	title, xLabel, yLabel string
	series                []Series
	width, height         int
	logX, logY, integerX  bool
	xFrom, xTo            float64
	lines                 bool
}

const (
	chartFont  = `system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif`
	charWidth  = 0.6 // approximate glyph width, in font sizes
	fontSize   = 11.0
	legendLine = 16.0
)

type tick struct {
	v        float64
	text     string
	exponent string // written as a superscript after text (log axes)
	minor    bool   // grid line only, or a smaller label
}

type axis struct {
	lo, hi float64
	log    bool
	ticks  []tick
}

// frac maps a value to [0,1] along the axis.
func (a axis) frac(v float64) float64 {
	if a.log {
		return (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	return (v - a.lo) / (a.hi - a.lo)
}

// niceStep rounds a raw step up to 1, 2 or 5 × 10^k.
func niceStep(raw float64) float64 {
	if !(raw > 0) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// linearAxis covers [lo, hi] with about five nicely spaced ticks.
func linearAxis(lo, hi float64, integer bool) axis {
	if lo == hi {
		d := math.Abs(lo) * 0.05
		if d == 0 || integer {
			d = 1
		}
		lo, hi = lo-d, hi+d
	}
	step := niceStep((hi - lo) / 5)
	if integer && step < 1 {
		step = 1
	}
	a := axis{lo: math.Floor(lo/step+1e-9) * step, hi: math.Ceil(hi/step-1e-9) * step}
	decimals := 0
	if step < 1 {
		decimals = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	n := int(math.Round((a.hi - a.lo) / step))
	for i := 0; i <= n; i++ {
		v := a.lo + float64(i)*step
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		a.ticks = append(a.ticks, tick{v: v, text: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return a
}

// logAxis covers [lo, hi] (both > 0) with whole decades, labelled 10^k, and
// grid lines at 2..9 × 10^k; when it spans at most two decades, 2× and 5× are labelled too.
func logAxis(lo, hi float64) axis {
	kLo := int(math.Floor(math.Log10(lo) - 0.15))
	kHi := int(math.Ceil(math.Log10(hi) + 0.15))
	if kHi <= kLo {
		kHi = kLo + 1
	}
	a := axis{lo: math.Pow(10, float64(kLo)), hi: math.Pow(10, float64(kHi)), log: true}
	few := kHi-kLo <= 2
	for k := kLo; k <= kHi; k++ {
		p := math.Pow(10, float64(k))
		a.ticks = append(a.ticks, tick{v: p, text: "10", exponent: strconv.Itoa(k)})
		if k == kHi {
			break
		}
		for m := 2; m <= 9; m++ {
			t := tick{v: float64(m) * p, minor: true}
			if few && (m == 2 || m == 5) {
				t.text, t.exponent = strconv.Itoa(m)+"×10", strconv.Itoa(k)
			}
			a.ticks = append(a.ticks, t)
		}
	}
	return a
}

type point struct {
	x, y, err float64
	label     string
}

// points are the plottable points of a series (finite, positive on log axes).
func (c chart) points(s Series) []point {
	var ps []point
	for i := 0; i < len(s.X) && i < len(s.Y); i++ {
		p := point{x: s.X[i], y: s.Y[i]}
		if i < len(s.YErr) && s.YErr[i] > 0 && !math.IsInf(s.YErr[i], 0) {
			p.err = s.YErr[i]
		}
		if i < len(s.Labels) {
			p.label = s.Labels[i]
		}
		if !finite(p.x) || !finite(p.y) || c.logX && p.x <= 0 || c.logY && p.y-p.err <= 0 {
			continue
		}
		ps = append(ps, p)
	}
	return ps
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

type svgBuilder struct{ strings.Builder }

func (b *svgBuilder) f(format string, args ...any) { fmt.Fprintf(&b.Builder, format, args...) }

func (c chart) svg() string {
	w, h := float64(c.width), float64(c.height)
	if w <= 0 {
		w = 640
	}
	if h <= 0 {
		h = 360
	}

	// Data ranges.
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	all := make([][]point, len(c.series))
	for i, s := range c.series {
		all[i] = c.points(s)
		for _, p := range all[i] {
			xlo, xhi = math.Min(xlo, p.x), math.Max(xhi, p.x)
			ylo, yhi = math.Min(ylo, p.y-p.err), math.Max(yhi, p.y+p.err)
		}
	}
	empty := math.IsInf(xlo, 1)
	if empty {
		xlo, xhi, ylo, yhi = 1, 10, 0, 1
	}
	if c.xTo > c.xFrom && !c.logX {
		if empty {
			xlo, xhi = c.xFrom, c.xTo
		}
		xlo, xhi = math.Min(xlo, c.xFrom), math.Max(xhi, c.xTo)
	}
	var xa, ya axis
	if c.logX {
		xa = logAxis(xlo, xhi)
	} else {
		xa = linearAxis(xlo, xhi, c.integerX)
	}
	if c.logY {
		ya = logAxis(ylo, yhi)
	} else {
		pad := (yhi - ylo) * 0.05
		lo := ylo - pad
		if ylo >= 0 && lo < 0 {
			lo = 0 // Non-negative data (losses, accuracies) never gets a negative axis.
		}
		ya = linearAxis(lo, yhi+pad, false)
	}

	// Layout: title on top, legend on the right.
	maxName := 0
	for _, s := range c.series {
		maxName = max(maxName, len([]rune(s.Name)))
	}
	// The legend goes right of the plot, or below it when names are long.
	legendW, legendH := 0.0, 0.0
	if n := len(c.series); n > 0 {
		legendW = 34 + float64(maxName)*fontSize*charWidth
		if legendW > w*0.32 {
			legendW, legendH = 0, float64(n)*legendLine+8
		}
	}
	top := 14.0
	if c.title != "" {
		top = 34
	}
	left, bottom, right := 62.0, h-46, w-legendW-14
	if right-left < 40 {
		right = left + 40
	}
	px := func(v float64) float64 { return left + xa.frac(v)*(right-left) }
	py := func(v float64) float64 { return bottom - ya.frac(v)*(bottom-top) }

	var b svgBuilder
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="%s" font-size="%g" role="img" aria-label="%s">`+"\n",
		w, h+legendH, w, h+legendH, chartFont, fontSize, esc(c.title))
	b.f("<title>%s</title>\n", esc(c.title))
	b.f(`<rect x="0" y="0" width="%g" height="%g" fill="#ffffff"/>`+"\n", w, h+legendH)
	if c.title != "" {
		b.f(`<text x="%.1f" y="20" text-anchor="middle" font-size="14" font-weight="bold">%s</text>`+"\n", w/2, esc(c.title))
	}

	// Grid and ticks.
	b.f(`<g class="grid" stroke="#e5e5e5" stroke-width="1">` + "\n")
	for _, t := range xa.ticks {
		x := px(t.v)
		b.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"%s/>`+"\n", x, top, x, bottom, minorStyle(t))
	}
	for _, t := range ya.ticks {
		y := py(t.v)
		b.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"%s/>`+"\n", left, y, right, y, minorStyle(t))
	}
	b.f("</g>\n")
	b.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333333"/>`+"\n", left, top, right-left, bottom-top)
	b.f(`<g class="x-ticks" text-anchor="middle" fill="#333333">` + "\n")
	for _, t := range xa.ticks {
		if t.text != "" {
			b.f(`<text x="%.1f" y="%.1f"%s>%s</text>`+"\n", px(t.v), bottom+16, tickSize(t), tickText(t))
		}
	}
	b.f("</g>\n")
	b.f(`<g class="y-ticks" text-anchor="end" fill="#333333">` + "\n")
	for _, t := range ya.ticks {
		if t.text != "" {
			b.f(`<text x="%.1f" y="%.1f"%s>%s</text>`+"\n", left-6, py(t.v)+4, tickSize(t), tickText(t))
		}
	}
	b.f("</g>\n")
	if c.xLabel != "" {
		b.f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", (left+right)/2, h-10, esc(c.xLabel))
	}
	if c.yLabel != "" {
		b.f(`<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", (top+bottom)/2, esc(c.yLabel))
	}
	if empty {
		b.f(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#777777">no data</text>`+"\n", (left+right)/2, (top+bottom)/2)
	}

	// Series.
	var placed []box
	colors := seriesColors(c.series)
	for i, s := range c.series {
		color := colors[i]
		b.f(`<g class="series" fill="%s" stroke="%s">`+"\n", esc(color), esc(color))
		b.f("<title>%s</title>\n", esc(s.Name))
		ps := all[i]
		for _, p := range ps {
			if p.err > 0 {
				x := px(p.x)
				b.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke-width="1.2"/>`+"\n", x, py(p.y-p.err), x, py(p.y+p.err))
			}
		}
		if c.lines && len(ps) > 0 {
			coords := make([]string, len(ps))
			for j, p := range ps {
				coords[j] = fmt.Sprintf("%.1f,%.1f", px(p.x), py(p.y))
			}
			dash := ""
			if s.Dashed {
				dash = ` stroke-dasharray="6 4"`
			}
			b.f(`<polyline fill="none" stroke-width="2"%s points="%s"/>`+"\n", dash, strings.Join(coords, " "))
		}
		r, fill := 3.0, ""
		if !c.lines {
			r = 5
		}
		if s.Dashed {
			fill = ` fill="#ffffff" stroke-width="2"`
		}
		for _, p := range ps {
			b.f(`<circle cx="%.1f" cy="%.1f" r="%g"%s><title>%s</title></circle>`+"\n",
				px(p.x), py(p.y), r, fill, esc(pointTitle(s.Name, p)))
		}
		if !c.lines {
			for _, p := range ps {
				if p.label == "" {
					continue
				}
				bx := placeLabel(p.label, px(p.x), py(p.y), placed)
				placed = append(placed, bx)
				b.f(`<text x="%.1f" y="%.1f" font-size="10" fill="#222222" stroke="none">%s</text>`+"\n", bx.x, bx.y+bx.h-2, esc(p.label))
			}
		}
		b.f("</g>\n")
	}

	// Legend.
	if len(c.series) > 0 {
		// The +1e-9 keeps a width computed for exactly n characters from rounding down to n-1.
		lx, ly, maxChars := right+14, top+8, int((legendW-34)/(fontSize*charWidth)+1e-9)
		if legendH > 0 {
			lx, ly, maxChars = left, h+8, int((w-left-34)/(fontSize*charWidth)+1e-9)
		}
		b.f(`<g class="legend">` + "\n")
		for i, s := range c.series {
			color := colors[i]
			y := ly + float64(i)*legendLine
			if c.lines {
				dash := ""
				if s.Dashed {
					dash = ` stroke-dasharray="6 4"`
				}
				b.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, y, lx+22, y, esc(color), dash)
			} else {
				fill := esc(color)
				if s.Dashed {
					fill = "#ffffff"
				}
				b.f(`<circle cx="%.1f" cy="%.1f" r="5" fill="%s" stroke="%s" stroke-width="2"/>`+"\n", lx+11, y, fill, esc(color))
			}
			b.f(`<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+28, y+4, esc(truncate(s.Name, max(maxChars, 4))))
		}
		b.f("</g>\n")
	}
	b.f("</svg>\n")
	return b.String()
}

func minorStyle(t tick) string {
	if t.minor {
		return ` stroke="#f2f2f2"`
	}
	return ""
}

func tickSize(t tick) string {
	if t.minor {
		return ` font-size="9"`
	}
	return ""
}

func tickText(t tick) string {
	s := esc(t.text)
	if t.exponent != "" {
		s += `<tspan dy="-5" font-size="8">` + esc(t.exponent) + `</tspan>`
	}
	return s
}

func pointTitle(name string, p point) string {
	s := fmt.Sprintf("%s: x=%s, y=%s", name, formatG(p.x), formatG(p.y))
	if p.err > 0 {
		s += " ± " + formatG(p.err)
	}
	if p.label != "" {
		s = p.label + " — " + s
	}
	return s
}

func formatG(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

type box struct{ x, y, w, h float64 }

func (a box) overlaps(b box) bool {
	return a.x < b.x+b.w && b.x < a.x+a.w && a.y < b.y+b.h && b.y < a.y+a.h
}

// placeLabel puts a point's label beside it, trying four corners so labels
// do not cover one another.
func placeLabel(text string, x, y float64, placed []box) box {
	w, h := float64(len([]rune(text)))*10*charWidth, 11.0
	candidates := []box{
		{x + 7, y - 7 - h, w, h}, {x + 7, y + 5, w, h},
		{x - 7 - w, y - 7 - h, w, h}, {x - 7 - w, y + 5, w, h},
	}
	for _, c := range candidates {
		free := true
		for _, p := range placed {
			if c.overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return c
		}
	}
	return candidates[0]
}
