package results

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// README renders the text of results/README.md from records: where the runs
// ran, then per data set its results table, backbone (SST-2), caveats and
// failed runs. The text depends on the records alone (no generation time),
// so regenerating it from the same records changes nothing.
func README(records []*Record, opts ReportOptions) (string, error) {
	if err := checkRecords(records); err != nil {
		return "", err
	}
	records = append([]*Record(nil), records...)
	SortRecords(records)
	sums := Aggregate(records)
	in := describeRuns(records)

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# %s\n\n", mdEscape(opts.title()))
	p("Generated from %d run records (%d complete, %d failed) by `results.README`; do not edit by hand.\n", len(records), in.complete, in.failed)
	if opts.ReportLink != "" {
		p("Charts and per-run details: [%s](%s).\n", mdEscape(opts.ReportLink), opts.ReportLink)
	}
	if len(records) == 0 {
		p("\nNo run records yet.\n")
		return b.String(), nil
	}
	p("\n")
	item := func(k string, cs []counted) {
		p("- **%s:** %s\n", k, mdEscape(strings.Join(joinCounted(cs), "; ")))
	}
	item("Machine", in.machines)
	item("Backend", in.backends)
	item("Commit", in.commits)
	p("- **Period:** %s\n", mdEscape(in.period()))
	if in.dirty {
		p("\nA commit ending in `-dirty` ran with uncommitted changes to tracked files.\n")
	}

	for _, ds := range Datasets(sums) {
		dsums := ofDataset(sums, ds)
		drecs := recordsOf(records, ds)
		p("\n## %s\n\n", mdEscape(DatasetTitle(ds)))
		if notes := variantExplanations(dsums); len(notes) > 0 {
			p("Speed options (SPEC §3; they keep the results the same):\n\n")
			for _, n := range notes {
				p("- %s\n", mdEscape(n))
			}
			p("\n")
		}
		p("Configuration: %s\n", mdEscape(configLine(drecs)))
		if ds == "sst2" {
			p("\nRuns on a fixture backbone (such as `bert-tiny-fixture`) are never TinyBERT results.\n")
		}
		groups := byBackbone(dsums)
		for _, g := range groups {
			bb := g[0].Backbone
			if len(groups) > 1 {
				p("\n### %s on %s\n", mdEscape(DatasetTitle(ds)), mdEscape(backboneTitle(bb)))
			}
			switch {
			case bb == "" && ds == "sst2":
				p("\nThese runs did not record their backbone: they may not be TinyBERT results.\n")
			case bb != "":
				p("\n**Backbone: `%s`**\n", bb)
				if IsFixtureBackbone(bb) {
					p("\n> **Not a TinyBERT result.** `%s` %s\n", bb, fixtureSentence)
				}
			}
			for _, s := range g {
				if c := s.protocolCaveats(); len(c) > 0 {
					p("\n> **%s** departs from the protocol (%s): not comparable with full runs or the reference.\n", mdEscape(s.Label()), mdEscape(strings.Join(c, ", ")))
				}
				for _, w := range s.Warnings {
					p("\n> **Warning, %s:** %s\n", mdEscape(s.Label()), mdEscape(w))
				}
			}
			t := ResultsTable(g, ds, opts.Reference)
			t.Caption = ""
			p("\n%s", t.Markdown())
		}
		var failed []string
		for _, r := range drecs {
			if !r.Complete() {
				failed = append(failed, fmt.Sprintf("- %s failed after %d epoch(s): %s", mdEscape(r.Label()), len(r.Epochs), mdEscape(truncate(r.Error, 300))))
			}
		}
		if len(failed) > 0 {
			p("\nFailed runs (not counted in the table):\n\n%s\n", strings.Join(failed, "\n"))
		}
	}
	return b.String(), nil
}

// WriteREADME writes README's text to path atomically.
func WriteREADME(path string, records []*Record, opts ReportOptions) error {
	text, err := README(records, opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	return writeFileAtomic(path, []byte(text), 0o644)
}
