package results

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Findings is the conclusion of one data set's results, in Markdown, made
// from the summaries alone (no number is typed in anywhere): per backbone,
// what each method reached against the baseline and its share of trainable
// parameters, whether each gap exceeds the seed-to-seed noise, the
// comparison with ref (when it has the data set), what the morph methods
// learned, and — first — the caveats of quick, limited or fixture runs.
func Findings(sums []Summary, dataset string, ref *Reference) string {
	rows := ofDataset(sums, dataset)
	var b strings.Builder
	if len(rows) == 0 {
		fmt.Fprintf(&b, "No runs of %s yet.\n", DatasetTitle(dataset))
		return b.String()
	}
	for _, g := range byBackbone(rows) {
		writeFindings(&b, g, dataset, ref)
	}
	return b.String()
}

func writeFindings(b *strings.Builder, rows []Summary, dataset string, ref *Reference) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	bb := rows[0].Backbone
	title := DatasetTitle(dataset)
	if bb != "" {
		title += " on `" + bb + "`"
	}
	var done []Summary
	var backends []string
	seedSets := map[string]bool{}
	for _, s := range rows {
		if s.N() > 0 {
			done = append(done, s)
			seedSets[joinInts(s.Seeds)] = true
		}
		for _, be := range s.Backends {
			if !slices.Contains(backends, be) {
				backends = append(backends, be)
			}
		}
	}
	seeds := "seeds differ between methods (see the table)"
	if len(seedSets) == 1 {
		for k := range seedSets {
			word := "seeds"
			if len(done[0].Seeds) == 1 {
				word = "seed"
			}
			seeds = fmt.Sprintf("%d %s per method (%s)", len(done[0].Seeds), word, k)
		}
	}
	methods := "methods"
	if len(done) == 1 {
		methods = "method"
	}
	p("**%s** — %d %s, %s; backend %s.\n\n", title, len(done), methods, seeds, strings.Join(backends, "; "))

	// Caveats first: they change what the numbers mean.
	var caveats []string
	for _, s := range rows {
		for _, c := range s.protocolCaveats() {
			if !slices.Contains(caveats, c) {
				caveats = append(caveats, c)
			}
		}
	}
	if len(caveats) > 0 {
		p("> **Not the full protocol** (%s): these numbers show that the code runs end to end; they are not results and are not comparable with the full runs or the reference.\n\n", strings.Join(caveats, ", "))
	}
	if IsFixtureBackbone(bb) {
		p("> **Not a TinyBERT result.** `%s` %s\n\n", bb, fixtureSentence)
	}
	if len(done) > 0 && len(seedSets) == 1 && len(done[0].Seeds) == 1 {
		p("> One seed per method: there is no spread over seeds, so no difference below can be compared with the seed-to-seed noise.\n\n")
	}

	devToo := false
	for _, s := range done {
		devToo = devToo || s.Dev.N > 0
	}
	for _, s := range rows {
		if s.N() == 0 {
			p("- **%s**: no complete run (%d failed).\n", shortLabel(s), len(s.Failures))
			continue
		}
		acc := "**" + s.Test.Percent() + " %** test accuracy"
		if devToo {
			acc = "dev accuracy " + s.Dev.Percent() + " %, test accuracy **" + s.Test.Percent() + " %**"
		}
		var parts []string
		base, hasBase := baselineOf(rows, s)
		params := fmt.Sprintf("%s of %s parameters trained (%.2f %%", formatInt(s.TrainableParams), formatInt(s.TotalParams), s.TrainablePercent())
		if s.Method == "baseline" || !hasBase {
			parts = append(parts, acc, params+")")
		} else {
			d := 100 * (s.Test.Mean - base.Test.Mean)
			parts = append(parts, acc, fmt.Sprintf("%s pts vs the baseline %s", formatDelta(d), noiseNote(s.Test, base.Test)))
			ratio := float64(base.TrainableParams) / float64(s.TrainableParams)
			switch {
			case s.TrainableParams <= 0 || base.TrainableParams <= 0:
				params += ")"
			case ratio >= 1:
				params += fmt.Sprintf(", %.2f× fewer than the baseline)", ratio)
			default:
				params += fmt.Sprintf(", %.2f× more than the baseline)", 1/ratio)
			}
			parts = append(parts, params)
		}
		if e, ok := ref.Lookup(dataset, s.Method); ok && len(caveats) == 0 {
			parts = append(parts, fmt.Sprintf("%s %s %% (ours %s pts)", ref.Name, e.Percent(), formatDelta(100*s.Test.Mean-e.MeanPct)))
		}
		speed := formatSeconds(s.SecondsPerEpoch) + " s/epoch"
		if hasBase && s.Method != "baseline" && base.SecondsPerEpoch > 0 {
			speed += fmt.Sprintf(" (%.2f× the baseline's)", s.SecondsPerEpoch/base.SecondsPerEpoch)
		}
		parts = append(parts, speed)
		p("- **%s**: %s.\n", shortLabel(s), strings.Join(parts, "; "))
	}
	p("\n")
	writeVerdict(b, rows, dataset, ref, len(caveats) == 0)
}

// baselineOf is the baseline row s compares with (same variant and caveats), as in the tables.
func baselineOf(rows []Summary, s Summary) (Summary, bool) {
	for _, b := range rows {
		if b.Method == "baseline" && b.Backbone == s.Backbone && b.Variant == s.Variant &&
			strings.Join(b.Caveats, ";") == strings.Join(s.Caveats, ";") && b.Test.N > 0 {
			return b, true
		}
	}
	return Summary{}, false
}

// noiseNote compares a difference of means with its standard error
// sqrt(s1²/n1 + s2²/n2); it says nothing with fewer than two seeds on a side.
func noiseNote(a, b Stat) string {
	if a.N < 2 || b.N < 2 {
		return "(one seed: no noise estimate)"
	}
	se := math.Sqrt(a.Std*a.Std/float64(a.N) + b.Std*b.Std/float64(b.N))
	d := math.Abs(a.Mean - b.Mean)
	if se == 0 || d > 2*se {
		return fmt.Sprintf("(more than twice its standard error of %.2f pts: beyond the seed noise)", 100*se)
	}
	return fmt.Sprintf("(within twice its standard error of %.2f pts: not distinguishable with %d and %d seeds)", 100*se, a.N, b.N)
}

// writeVerdict sums the rows up: the most accurate method other than the
// baseline, the one with the fewest trainable parameters, the spread of the
// gaps to the reference and what the morph methods learned.
func writeVerdict(b *strings.Builder, rows []Summary, dataset string, ref *Reference, full bool) {
	var sentences []string
	var best, fewest *Summary
	for i := range rows {
		s := &rows[i]
		if s.Method == "baseline" || s.Test.N == 0 {
			continue
		}
		if _, ok := baselineOf(rows, *s); !ok {
			continue
		}
		if best == nil || s.Test.Mean > best.Test.Mean {
			best = s
		}
		if fewest == nil || s.TrainableParams < fewest.TrainableParams {
			fewest = s
		}
	}
	gap := func(s *Summary) string {
		base, _ := baselineOf(rows, *s)
		return formatDelta(100*(s.Test.Mean-base.Test.Mean)) + " pts"
	}
	switch {
	case best == nil:
	case best == fewest:
		sentences = append(sentences, fmt.Sprintf("Of the methods other than the baseline, **%s** is both the most accurate (%s vs the baseline) and the one that trains the fewest parameters (%.2f %%).",
			shortLabel(*best), gap(best), best.TrainablePercent()))
	default:
		sentences = append(sentences, fmt.Sprintf("Of the methods other than the baseline, **%s** is the most accurate (%s vs the baseline, %.2f %% of its parameters trained); **%s** trains the fewest (%.2f %%) at %s.",
			shortLabel(*best), gap(best), best.TrainablePercent(), shortLabel(*fewest), fewest.TrainablePercent(), gap(fewest)))
	}
	if full && ref.has(dataset) {
		lo, hi := math.Inf(1), math.Inf(-1)
		var loName, hiName string
		for _, s := range rows {
			e, ok := ref.Lookup(dataset, s.Method)
			if !ok || s.Test.N == 0 {
				continue
			}
			d := 100*s.Test.Mean - e.MeanPct
			if d < lo {
				lo, loName = d, shortLabel(s)
			}
			if d > hi {
				hi, hiName = d, shortLabel(s)
			}
		}
		switch {
		case loName != "" && loName == hiName:
			sentences = append(sentences, fmt.Sprintf("Against the %s, our accuracy differs by %s pts (%s).", ref.Name, formatDelta(lo), loName))
		case loName != "":
			sentences = append(sentences, fmt.Sprintf("Against the %s, our accuracies differ by %s (%s) to %s (%s) pts.", ref.Name, formatDelta(lo), loName, formatDelta(hi), hiName))
		}
	}
	var alphas []string
	for _, s := range rows {
		if s.Learned == nil {
			continue
		}
		if s.Learned.Alpha.N > 0 {
			alphas = append(alphas, fmt.Sprintf("%.3f (%s)", s.Learned.Alpha.Mean, shortLabel(s)))
		}
		if n := len(s.Learned.Scales); n > 0 {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, sc := range s.Learned.Scales {
				lo, hi = math.Min(lo, sc.Mean), math.Max(hi, sc.Mean)
			}
			sentences = append(sentences, fmt.Sprintf("%s's %d per-wrapper scales ended between %.3f and %.3f (they start at 1).", shortLabel(s), n, lo, hi))
		}
	}
	if len(alphas) > 0 {
		sentences = append(sentences, fmt.Sprintf("The shared core's gate α = 2·sigmoid(s) moved from %.3f at initialisation to %s.", initialAlpha, strings.Join(alphas, " and ")))
	}
	if len(sentences) > 0 {
		fmt.Fprintf(b, "%s\n\n", strings.Join(sentences, " "))
	}
}

// shortLabel names a row by method and variant (the caveats are said once, above the rows).
func shortLabel(s Summary) string {
	if s.Variant != "" {
		return s.Method + " (" + s.Variant + ")"
	}
	return s.Method
}
