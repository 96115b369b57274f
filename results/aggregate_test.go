package results

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestStatOf(t *testing.T) {
	for _, tc := range []struct {
		xs        []float64
		n         int
		mean, std float64
		percent   string
	}{
		{nil, 0, 0, 0, "—"},
		{[]float64{0.7258}, 1, 0.7258, 0, "72.58"},
		{[]float64{0.5, 0.7}, 2, 0.6, math.Sqrt(0.02), "60.00 ± 14.14"},
		{[]float64{0.9777 - 0.0024, 0.9777, 0.9777 + 0.0024}, 3, 0.9777, 0.0024, "97.77 ± 0.24"},
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 8, 5, math.Sqrt(32.0 / 7), "500.00 ± 213.81"},
	} {
		s := statOf(tc.xs)
		if s.N != tc.n || !near(s.Mean, tc.mean) || !near(s.Std, tc.std) {
			t.Errorf("statOf(%v) = %+v, want n %d mean %v std %v", tc.xs, s, tc.n, tc.mean, tc.std)
		}
		if got := s.Percent(); got != tc.percent {
			t.Errorf("statOf(%v).Percent() = %q, want %q", tc.xs, got, tc.percent)
		}
	}
}

func TestAggregate(t *testing.T) {
	recs := syntheticRecords()
	// Aggregation must not depend on the input order.
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	sums := Aggregate(recs)

	var order []string
	for _, s := range sums {
		order = append(order, s.Dataset+"/"+s.Label())
	}
	wantOrder := []string{
		"mnist/baseline", "mnist/morph-frozen", "mnist/morph-trained", "mnist/lora",
		"cifar10/baseline", "cifar10/morph-frozen", "cifar10/morph-trained", "cifar10/lora",
		"sst2/baseline (cached+bucketed, fixture backbone)",
		"sst2/morph (cached+bucketed, fixture backbone)",
	}
	if !reflect.DeepEqual(order, wantOrder) {
		t.Fatalf("order:\n got %q\nwant %q", order, wantOrder)
	}
	if got := Datasets(sums); !reflect.DeepEqual(got, []string{"mnist", "cifar10", "sst2"}) {
		t.Errorf("Datasets = %v", got)
	}

	for i, want := range syntheticAccuracies {
		s := sums[i]
		if s.N() != 3 || !reflect.DeepEqual(s.Seeds, []int{0, 1, 2}) {
			t.Errorf("%s/%s: seeds %v", want.dataset, want.method, s.Seeds)
		}
		if s.Test.N != 3 || !near(s.Test.Mean, want.mean) || !near(s.Test.Std, want.std) {
			t.Errorf("%s/%s: test %+v, want mean %v std %v", want.dataset, want.method, s.Test, want.mean, want.std)
		}
		if s.Dev.N != 0 {
			t.Errorf("%s/%s: dev %+v from records without dev accuracy", want.dataset, want.method, s.Dev)
		}
		p := paramsOf[want.dataset+"/"+want.method]
		if s.TrainableParams != p[0] || s.TotalParams != p[1] {
			t.Errorf("%s/%s: params %d/%d", want.dataset, want.method, s.TrainableParams, s.TotalParams)
		}
		// The curve is acc−0.02, acc−0.01, acc in every run: its means shift the same way.
		if len(s.Curve) != 3 {
			t.Fatalf("%s/%s: curve %+v", want.dataset, want.method, s.Curve)
		}
		for e, c := range s.Curve {
			if c.Epoch != e+1 || c.Test.N != 3 || !near(c.Test.Mean, want.mean-0.01*float64(2-e)) {
				t.Errorf("%s/%s: curve point %d = %+v", want.dataset, want.method, e, c)
			}
		}
		if !near(s.SecondsPerEpoch, 10) || !near(s.WallSeconds, 31.5) || s.PeakRSSBytes != 512<<20 {
			t.Errorf("%s/%s: time %v s/epoch, %v s wall, %d RSS", want.dataset, want.method, s.SecondsPerEpoch, s.WallSeconds, s.PeakRSSBytes)
		}
		if !reflect.DeepEqual(s.Backends, []string{"simplego (go:ops_sequential, GoMLX v0.26.0)"}) || !reflect.DeepEqual(s.Commits, []string{"abc1234"}) {
			t.Errorf("%s/%s: backends %v commits %v", want.dataset, want.method, s.Backends, s.Commits)
		}
		if len(s.Warnings) > 0 {
			t.Errorf("%s/%s: warnings %v", want.dataset, want.method, s.Warnings)
		}
		isMorph := strings.HasPrefix(want.method, "morph")
		if (s.Learned != nil) != isMorph {
			t.Errorf("%s/%s: learned %+v", want.dataset, want.method, s.Learned)
		} else if isMorph && (!near(s.Learned.Alpha.Mean, 0.11) || !near(s.Learned.Alpha.Std, 0.01)) {
			t.Errorf("%s/%s: alpha %+v, want 0.11 ± 0.01", want.dataset, want.method, s.Learned.Alpha)
		}
	}

	// The failed run counts as a failure, never in the statistics.
	lora := sums[3]
	if len(lora.Failures) != 1 || lora.Failures[0] != (Failure{Seed: 3, Epochs: 1, Error: failedError}) {
		t.Errorf("mnist/lora failures: %+v", lora.Failures)
	}
	if got := lora.TrainablePercent(); !near(got, 100*7272.0/414322) {
		t.Errorf("trainable %% = %v", got)
	}

	morph := sums[9]
	if morph.Backbone != "bert-tiny-fixture" || morph.Variant != "cached+bucketed" || morph.Test.N != 1 || morph.Dev.N != 1 || !near(morph.Dev.Mean, 0.56) {
		t.Errorf("sst2/morph: %+v", morph)
	}
	if len(morph.Curve) != 3 || morph.Curve[2].Test.N != 0 || !near(morph.Curve[2].Dev.Mean, 0.54) {
		t.Errorf("sst2/morph curve: %+v", morph.Curve)
	}
	wantScales := []NamedStat{{"classifier", Stat{N: 1, Mean: 0.75}}, {"layer2.query", Stat{N: 1, Mean: 1.25}}}
	if morph.Learned == nil || !reflect.DeepEqual(morph.Learned.Scales, wantScales) {
		t.Errorf("sst2/morph learned: %+v", morph.Learned)
	}
}

func TestAggregateGroups(t *testing.T) {
	t.Run("caveats and backbones are separate rows", func(t *testing.T) {
		full := newRecord("sst2", "lora", 0, 0.85)
		full.Backbone = "huawei-noah/TinyBERT_General_4L_312D"
		quick := newRecord("sst2", "lora", 0, 0.6)
		quick.Backbone = full.Backbone
		quick.Config["quick"] = true
		fixture := newRecord("sst2", "lora", 0, 0.5)
		fixture.Backbone = "bert-tiny-fixture"
		sums := Aggregate([]*Record{fixture, quick, full})
		if len(sums) != 3 {
			t.Fatalf("%d groups", len(sums))
		}
		if sums[0].Label() != "lora" || !near(sums[0].Test.Mean, 0.85) || sums[2].Backbone != "bert-tiny-fixture" {
			t.Errorf("groups: %q %q %q", sums[0].Label(), sums[1].Label(), sums[2].Label())
		}
	})
	t.Run("disagreements are warnings", func(t *testing.T) {
		a, b, c := newRecord("mnist", "baseline", 0, 0.9), newRecord("mnist", "baseline", 1, 0.9), newRecord("mnist", "baseline", 2, 0.9)
		c.TrainableParams, c.TotalParams = 5, 10
		b.Config["epochs"] = 5.0
		b.Backend.Name = "xla"
		s := Aggregate([]*Record{a, b, c})[0]
		if s.TrainableParams != 407050 {
			t.Errorf("params %d: want the majority's", s.TrainableParams)
		}
		w := strings.Join(s.Warnings, "\n")
		if !strings.Contains(w, "parameter counts: 407,050/407,050 (seeds 0, 1), 5/10 (seed 2)") || !strings.Contains(w, "epochs: 3 (seeds 0, 2), 5 (seed 1)") {
			t.Errorf("warnings:\n%s", w)
		}
		if len(s.Backends) != 2 {
			t.Errorf("backends %v", s.Backends)
		}
	})
	t.Run("only failed runs", func(t *testing.T) {
		f := failedRecord("cifar10", "lora", 0, "killed")
		s := Aggregate([]*Record{f, nil})
		if len(s) != 1 || s[0].N() != 0 || s[0].Test.N != 0 || len(s[0].Failures) != 1 || s[0].TotalParams != 630642 || s[0].Curve != nil {
			t.Errorf("%+v", s)
		}
	})
	t.Run("unknown names go last", func(t *testing.T) {
		sums := Aggregate([]*Record{newRecord("zzz", "baseline", 0, 0.5), newRecord("mnist", "adapter", 0, 0.5), newRecord("mnist", "lora", 0, 0.5)})
		var got []string
		for _, s := range sums {
			got = append(got, s.Dataset+"/"+s.Method)
		}
		if want := []string{"mnist/lora", "mnist/adapter", "zzz/baseline"}; !reflect.DeepEqual(got, want) {
			t.Errorf("order %v, want %v", got, want)
		}
	})
}
