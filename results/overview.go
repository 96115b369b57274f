package results

import (
	"fmt"
	"strings"
)

// OverviewTable puts every data set's rows in one table, in report order:
// data set (with its backbone when it has one), method, seeds, final test
// accuracy (mean ± std), difference to the baseline, the reference's number
// (when ref is given), trainable parameters and their share, and seconds per
// epoch. Rows with caveats (quick, limited, fixture) say so in their method cell.
func OverviewTable(sums []Summary, ref *Reference) Table {
	t := Table{Caption: "All data sets: final test accuracy against trainable parameters"}
	col := func(name string, right bool) {
		t.Header = append(t.Header, name)
		t.Right = append(t.Right, right)
	}
	col("Data set", false)
	col("Method", false)
	col("Seeds", true)
	col("Test acc. (%)", true)
	col("Δ vs baseline (pts)", true)
	if ref != nil {
		col(ref.Name+" (%)", true)
	}
	col("Trainable", true)
	col("Trainable %", true)
	col("s/epoch", true)
	fixture := false
	for _, ds := range Datasets(sums) {
		rows := ofDataset(sums, ds)
		for _, s := range rows {
			name := DatasetTitle(ds)
			if s.Backbone != "" {
				name += " — " + backboneTitle(s.Backbone)
				fixture = fixture || IsFixtureBackbone(s.Backbone)
			}
			seeds := fmt.Sprint(s.N())
			if len(s.Failures) > 0 {
				seeds += fmt.Sprintf(" + %d failed", len(s.Failures))
			}
			failed := s.N() == 0
			acc := s.Test.Percent()
			if failed {
				acc = "failed"
			}
			c := []string{name, s.Label(), seeds, acc, deltaVsBaseline(rows, s)}
			if ref != nil {
				r := "—"
				if e, ok := ref.Lookup(ds, s.Method); ok {
					r = e.Percent()
				}
				c = append(c, r)
			}
			if s.TotalParams > 0 {
				c = append(c, formatInt(s.TrainableParams), fmt.Sprintf("%.2f", s.TrainablePercent()))
			} else {
				c = append(c, "—", "—")
			}
			if s.N() > 0 {
				c = append(c, formatSeconds(s.SecondsPerEpoch))
			} else {
				c = append(c, "—")
			}
			t.Rows = append(t.Rows, TableRow{Cells: c, Failed: failed})
		}
	}
	t.Notes = append(t.Notes, "Accuracies: mean ± sample standard deviation over seeds, in percent, on each data set's test split (SST-2: its labelled test split); Δ: difference of means to the baseline of the same data set, backbone and variant, in percentage points.")
	if ref != nil {
		t.Notes = append(t.Notes, ref.Name+": "+ref.Source+".")
	}
	if fixture {
		t.Notes = append(t.Notes, "A fixture backbone "+fixtureSentence)
	}
	return t
}

// Provenance says where and how the records ran, as a two-column table:
// machine, backend, commit (each with its number of runs when they differ),
// period and total compute, and how many runs completed or failed.
func Provenance(records []*Record) Table {
	in := describeRuns(records)
	t := Table{Caption: "Where the runs ran", Header: []string{"Property", "Value"}}
	row := func(k string, vs []string) {
		t.Rows = append(t.Rows, TableRow{Cells: []string{k, strings.Join(vs, "; ")}})
	}
	row("Runs", []string{fmt.Sprintf("%d complete, %d failed", in.complete, in.failed)})
	row("Machine", joinCounted(in.machines))
	row("Backend", joinCounted(in.backends))
	row("Commit", joinCounted(in.commits))
	row("Period", []string{in.period()})
	if in.dirty {
		t.Notes = append(t.Notes, "A commit ending in -dirty ran with uncommitted changes to tracked files.")
	}
	if in.unknownCommit {
		t.Notes = append(t.Notes, "Commit unknown: those runs could not tell which code they ran.")
	}
	return t
}

// Groups splits summaries into what one table or chart shows: a group per
// data set and backbone, in report order, so that runs on a fixture backbone
// never share a chart with TinyBERT's.
func Groups(sums []Summary) [][]Summary {
	var out [][]Summary
	for _, ds := range Datasets(sums) {
		out = append(out, byBackbone(ofDataset(sums, ds))...)
	}
	return out
}
