package results

import (
	"encoding/xml"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// svgTexts returns the character data of the SVG's <text> elements (tspans joined).
func svgTexts(t *testing.T, svg string) []string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var texts []string
	depth := 0
	var cur strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Local == "text" {
				depth++
				cur.Reset()
			}
		case xml.EndElement:
			if el.Name.Local == "text" {
				depth--
				texts = append(texts, cur.String())
			}
		case xml.CharData:
			if depth > 0 {
				cur.Write(el)
			}
		}
	}
	return texts
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestLineChartSVG(t *testing.T) {
	c := LineChart{
		Title: `Accuracy <per> epoch & "more"`, XLabel: "epoch", YLabel: "test accuracy (%)", IntegerX: true,
		Series: []Series{
			{Name: "baseline", X: []float64{1, 2, 3, 4, 5}, Y: []float64{96, 97, 97.5, 97.7, 97.8}},
			{Name: "morph-frozen", X: []float64{1, 2, 3, 4, 5}, Y: []float64{94, 95.5, 96, 96.4, 96.6}, YErr: []float64{0.3, 0.2, 0.2, 0.1, 0.1}},
			{Name: "lora <r=4>", X: []float64{1, 2, 3}, Y: []float64{90, math.NaN(), 92}, Dashed: true},
			{Name: "empty"},
		},
	}
	svg := c.SVG()
	starts := wellFormed(t, svg)
	if starts[0].Name.Local != "svg" || starts[0].Name.Space != "http://www.w3.org/2000/svg" {
		t.Errorf("root %v", starts[0].Name)
	}
	if n := countElements(starts, "polyline"); n != 3 {
		t.Errorf("%d polylines, want one per series with points (3)", n)
	}
	if n := countElements(starts, "circle"); n != 5+5+2 {
		t.Errorf("%d markers, want 12 (the NaN point is skipped)", n)
	}
	texts := svgTexts(t, svg)
	for _, name := range []string{"baseline", "morph-frozen", "lora <r=4>", "empty", `Accuracy <per> epoch & "more"`, "epoch", "test accuracy (%)"} {
		if !contains(texts, name) {
			t.Errorf("no text %q in %q", name, texts)
		}
	}
	// Integer x ticks 1..5, y ticks nicely spaced around the data.
	for _, tick := range []string{"1", "2", "3", "4", "5", "90", "92", "98"} {
		if !contains(texts, tick) {
			t.Errorf("no tick %q in %q", tick, texts)
		}
	}
	if !strings.Contains(svg, `stroke="#1f77b4"`) || !strings.Contains(svg, `stroke="#ff7f0e"`) {
		t.Error("method colours not used")
	}
	if strings.Count(svg, `stroke-dasharray`) != 2 { // the dashed line and its legend entry
		t.Errorf("dashes: %d", strings.Count(svg, `stroke-dasharray`))
	}
	if !strings.Contains(svg, `width="640" height="360"`) {
		t.Error("default size")
	}
}

func TestScatterLogX(t *testing.T) {
	c := Scatter{
		Title: "Accuracy vs trainable parameters", XLabel: "trainable parameters", YLabel: "accuracy (%)",
		LogX: true, Width: 500, Height: 300,
		Series: []Series{
			{Name: "baseline", X: []float64{407050}, Y: []float64{97.8}, YErr: []float64{0.2}, Labels: []string{"baseline"}},
			{Name: "morph-frozen", X: []float64{83009}, Y: []float64{96.6}, Labels: []string{"morph-frozen"}},
			{Name: "morph-trained", X: []float64{315713}, Y: []float64{97.3}, Labels: []string{"morph-trained"}},
			{Name: "lora", X: []float64{7272, 0, -5}, Y: []float64{92.9, 50, 50}, Labels: []string{"lora"}},
		},
	}
	svg := c.SVG()
	starts := wellFormed(t, svg)
	if n := countElements(starts, "polyline"); n != 0 {
		t.Errorf("a scatter draws no lines, got %d", n)
	}
	if n := countElements(starts, "circle"); n != 4+4 { // points (x ≤ 0 dropped on a log axis) and legend
		t.Errorf("%d circles, want 8", n)
	}
	texts := svgTexts(t, svg)
	for _, want := range []string{"103", "104", "105", "106", "baseline", "morph-frozen", "morph-trained", "lora"} {
		if !contains(texts, want) { // "10" with a superscript 3 reads "103" as text
			t.Errorf("no text %q in %q", want, texts)
		}
	}
	if contains(texts, "102") || contains(texts, "107") {
		t.Errorf("decades beyond the data's: %q", texts)
	}
	if !strings.Contains(svg, `<tspan dy="-5" font-size="8">3</tspan>`) {
		t.Error("exponents are not superscripts")
	}
	// Labels placed so they do not overlap (two points in the same spot would).
	re := regexp.MustCompile(`<text x="([0-9.]+)" y="([0-9.]+)" font-size="10"`)
	if n := len(re.FindAllStringSubmatch(svg, -1)); n != 4 {
		t.Errorf("%d point labels, want 4", n)
	}
}

func TestChartEdgeCases(t *testing.T) {
	for name, svg := range map[string]string{
		"no series":       LineChart{Title: "nothing"}.SVG(),
		"one point":       LineChart{Series: []Series{{Name: "a", X: []float64{1}, Y: []float64{0.5}}}}.SVG(),
		"flat":            LineChart{Series: []Series{{Name: "a", X: []float64{1, 2}, Y: []float64{3, 3}}}}.SVG(),
		"all NaN":         Scatter{LogX: true, Series: []Series{{Name: "a", X: []float64{math.NaN()}, Y: []float64{1}}}}.SVG(),
		"one decade":      Scatter{LogX: true, LogY: true, Series: []Series{{Name: "a", X: []float64{1000}, Y: []float64{1000}}}}.SVG(),
		"long name":       LineChart{Width: 200, Height: 100, Series: []Series{{Name: strings.Repeat("x", 300), X: []float64{1, 2}, Y: []float64{1, 2}}}}.SVG(),
		"control chars":   LineChart{Title: "a\x00b", Series: []Series{{Name: "\x01", X: []float64{1}, Y: []float64{1}}}}.SVG(),
		"huge values":     LineChart{Series: []Series{{Name: "a", X: []float64{-1e300, 1e300}, Y: []float64{1e-300, 2e-300}}}}.SVG(),
		"infinite errors": Scatter{Series: []Series{{Name: "a", X: []float64{1}, Y: []float64{1}, YErr: []float64{math.Inf(1)}}}}.SVG(),
	} {
		t.Run(name, func(t *testing.T) {
			wellFormed(t, svg)
			if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
				t.Errorf("non-finite coordinates:\n%s", svg)
			}
		})
	}
}

func TestAxes(t *testing.T) {
	labels := func(a axis) []string {
		var out []string
		for _, tk := range a.ticks {
			if tk.text != "" {
				out = append(out, tk.text+tk.exponent)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		a       axis
		want    []string
		lo, hi  float64
		logAxis bool
	}{
		{"epochs", linearAxis(1, 5, true), []string{"1", "2", "3", "4", "5"}, 1, 5, false},
		{"epochs 10", linearAxis(1, 10, true), []string{"0", "2", "4", "6", "8", "10"}, 0, 10, false},
		{"epochs 3", linearAxis(1, 3, true), []string{"1", "2", "3"}, 1, 3, false},
		{"accuracy", linearAxis(92.5, 98.1, false), []string{"92", "94", "96", "98", "100"}, 92, 100, false},
		{"fractions", linearAxis(0.11, 0.19, false), []string{"0.10", "0.12", "0.14", "0.16", "0.18", "0.20"}, 0.1, 0.2, false},
		{"negative", linearAxis(-0.3, 0.3, false), []string{"-0.4", "-0.2", "0.0", "0.2", "0.4"}, -0.4, 0.4, false},
		{"params", logAxis(7272, 407050), []string{"103", "104", "105", "106"}, 1e3, 1e6, true},
		{"narrow", logAxis(83009, 315713), []string{"104", "2×104", "5×104", "105", "2×105", "5×105", "106"}, 1e4, 1e6, true},
	} {
		if got := labels(tc.a); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: ticks %q, want %q", tc.name, got, tc.want)
		}
		if !near(tc.a.lo, tc.lo) || !near(tc.a.hi, tc.hi) || tc.a.log != tc.logAxis {
			t.Errorf("%s: range [%v, %v] log %v", tc.name, tc.a.lo, tc.a.hi, tc.a.log)
		}
	}
	a := logAxis(10, 1000)
	if !near(a.frac(100), 0.5) {
		t.Errorf("log frac(100) on [1, 10^4]? got %v (range %v..%v)", a.frac(100), a.lo, a.hi)
	}
}

func TestSeriesColor(t *testing.T) {
	if SeriesColor("lora") != MethodColors["lora"] || SeriesColor("morph (cached+bucketed)") != MethodColors["morph"] {
		t.Error("method colours")
	}
	if SeriesColor("something else") != SeriesColor("something else") || SeriesColor("x") == "" {
		t.Error("fallback colours must be fixed per name")
	}
}

func TestChartColorsLegendAndAxis(t *testing.T) {
	c := LineChart{Series: []Series{
		{Name: "lr 0.05", X: []float64{1, 2, 3}, Y: []float64{0.5, 0.2, 0.01}},
		{Name: "lr 0.2", X: []float64{1, 2, 3}, Y: []float64{0.4, 0.1, 0.02}},
	}}
	svg := c.SVG()
	colors := seriesColors(c.Series)
	if colors[0] == colors[1] {
		t.Errorf("two series share colour %s", colors[0])
	}
	for _, name := range []string{">lr 0.05<", ">lr 0.2<"} {
		if !strings.Contains(svg, name) {
			t.Errorf("legend lacks the full name %q", name)
		}
	}
	if strings.Contains(svg, ">-0.") || strings.Contains(svg, ">−0.") {
		t.Error("non-negative data drawn on an axis below zero")
	}
}
