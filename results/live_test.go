package results

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeClock advances by step on every reading.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

func TestLiveStepsEpochsAndThrottle(t *testing.T) {
	clock := &fakeClock{t: t0, step: 100 * time.Millisecond}
	var draws []string
	l := &Live{Title: "MNIST", Runs: []string{"mnist/baseline/seed0", "mnist/lora/seed0"},
		Update: func(h string) { draws = append(draws, h) }, now: clock.now}
	// 40 steps of loss i (1..40): chunks of 40/20 = 2 steps.
	for i := 1; i <= 40; i++ {
		l.Step("mnist/baseline/seed0", 1, 2, i, 40, float64(i), 1000)
	}
	r := l.runs["mnist/baseline/seed0"]
	if len(r.lossX) != 20 {
		t.Fatalf("%d loss points after 40 steps, want 20", len(r.lossX))
	}
	// First chunk: steps 1-2, mean loss 1.5, drawn at the middle of (0, 2/40] epochs.
	if r.lossX[0] != 1.0/40 || r.lossY[0] != 1.5 || r.lossX[19] != 39.0/40 || r.lossY[19] != 39.5 {
		t.Fatalf("loss points start %v,%v end %v,%v", r.lossX[0], r.lossY[0], r.lossX[19], r.lossY[19])
	}
	// Each Step reads the clock once (+100 ms); a draw is due every 2 s: the first step, then every 20th.
	if len(draws) != 2 {
		t.Fatalf("%d draws during 40 steps of 100 ms, want 2 (throttled to one per 2 s)", len(draws))
	}
	if !strings.Contains(draws[0], "run 1/2 mnist/baseline/seed0 · epoch 1/2 · step 1/40") {
		t.Errorf("status of the first draw: %s", draws[0][:200])
	}
	l.Epoch("mnist/baseline/seed0", 1, 2, 20.5, 0.9731, 4)
	if len(draws) != 3 || !strings.Contains(draws[2], "epoch 1/2 done · accuracy 97.31%") {
		t.Fatalf("an epoch re-draws with its accuracy: %d draws, last status %q", len(draws), draws[len(draws)-1][:160])
	}
	if !reflect.DeepEqual(r.accX, []float64{1}) || math.Abs(r.accY[0]-97.31) > 1e-9 {
		t.Fatalf("accuracy points %v %v", r.accX, r.accY)
	}
	wellFormed(t, "<div>"+draws[2]+"</div>")
}

func TestLiveDoneDrawsRecordsOfSkippedRuns(t *testing.T) {
	var last string
	l := &Live{Title: "MNIST", Runs: []string{"mnist/baseline/seed0", "mnist/lora/seed0", "mnist/lora/seed1"},
		Update: func(h string) { last = h }}
	l.Step("mnist/baseline/seed0", 1, 3, 1, 1, 0.7, 100)
	for e := 1; e <= 3; e++ {
		l.Step("mnist/baseline/seed0", e, 3, 1, 1, 1/float64(e), 100)
		l.Epoch("mnist/baseline/seed0", e, 3, 1/float64(e), 0.9, 1)
	}
	trained := newRecord("mnist", "baseline", 0, 0.9)
	skipped := newRecord("mnist", "lora", 0, 0.93)
	failed := failedRecord("mnist", "lora", 1, "out of memory")
	l.Done([]*Record{trained, skipped, failed})
	if !strings.Contains(last, "3 run(s) done: 1 trained now, 1 read from records that existed (not run again); 1 FAILED — mnist/lora/seed1: out of memory") {
		t.Fatalf("final status: %s", last[:300])
	}
	r := l.runs["mnist/lora/seed0"]
	// From the record: loss of epoch e at e − 0.5 (1/e), accuracy at e.
	if !reflect.DeepEqual(r.lossX, []float64{0.5, 1.5, 2.5}) || !reflect.DeepEqual(r.lossY, []float64{1, 0.5, 1.0 / 3}) ||
		!reflect.DeepEqual(r.accX, []float64{1, 2, 3}) || math.Abs(r.accY[2]-93) > 1e-9 {
		t.Fatalf("skipped run drawn from its record: loss %v %v, accuracy %v %v", r.lossX, r.lossY, r.accX, r.accY)
	}
	// The trained run keeps what was seen live (4 loss points, not the record's 3).
	if n := len(l.runs["mnist/baseline/seed0"].lossX); n != 4 {
		t.Fatalf("trained run has %d loss points, want the 4 seen live", n)
	}
	starts := wellFormed(t, "<div>"+last+"</div>")
	if n := countElements(starts, "svg"); n != 2 {
		t.Fatalf("%d charts, want 2", n)
	}
	texts := svgTexts(t, last[strings.Index(last, "<svg"):strings.Index(last, "</svg>")+6])
	for _, want := range []string{"baseline seed 0", "lora seed 0", "lora seed 1", "MNIST: training loss"} {
		if !contains(texts, want) {
			t.Errorf("loss chart lacks %q: %q", want, texts)
		}
	}
}

func TestLiveResumedRunGetsEarlierEpochsFromRecord(t *testing.T) {
	l := &Live{Runs: []string{"mnist/lora/seed0"}}
	// Resumed after epoch 2: only epoch 3 is seen live.
	l.Step("mnist/lora/seed0", 3, 3, 1, 1, 0.3, 100)
	l.Epoch("mnist/lora/seed0", 3, 3, 0.3, 0.95, 1)
	l.Done([]*Record{newRecord("mnist", "lora", 0, 0.95)})
	r := l.runs["mnist/lora/seed0"]
	if !reflect.DeepEqual(r.accX, []float64{1, 2, 3}) || !reflect.DeepEqual(r.lossX, []float64{0.5, 1.5, 2.5}) {
		t.Fatalf("resumed run: accuracy at %v, loss at %v", r.accX, r.lossX)
	}
}

func TestLiveLabelsAndColors(t *testing.T) {
	runs := []*liveRun{{name: "sst2/morph-fixture+cached+bucketed/seed0"}, {name: "mnist/morph-frozen/seed1"}, {name: "x"},
		{name: "sst2/lora-cached/seed0"}, {name: "sst2/lora/seed0"}}
	got := liveLabels(runs)
	want := []string{"morph seed 0", "morph-frozen seed 1", "x", "lora-cached seed 0", "lora seed 0"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("labels %q, want %q", got, want)
	}
	for name, m := range map[string]string{"sst2/morph-fixture+cached+bucketed/seed0": "morph", "mnist/morph-trained/seed2": "morph-trained", "cifar10/baseline/seed0": "baseline"} {
		if got := liveMethod(name); got != m {
			t.Errorf("liveMethod(%q) = %q, want %q", name, got, m)
		}
	}
	if RunName(&Record{Dataset: "sst2", Method: "morph", Variant: "fixture+cached+bucketed", Seed: 2}) != "sst2/morph-fixture+cached+bucketed/seed2" {
		t.Error("RunName of a variant")
	}
}

func TestSideBySide(t *testing.T) {
	a, b := LineChart{Title: "a"}.SVG(), BarChart{Title: "b"}.SVG()
	h := SideBySide(a, b)
	starts := wellFormed(t, h)
	if countElements(starts, "svg") != 2 || countElements(starts, "div") != 3 || !strings.Contains(h, "flex-wrap: wrap") {
		t.Fatalf("SideBySide: %s", h)
	}
	if strings.Index(h, `aria-label="a"`) > strings.Index(h, `aria-label="b"`) {
		t.Error("order lost")
	}
}
