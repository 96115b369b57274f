package results

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// paramsOf are SPEC §2's parameter counts.
var paramsOf = map[string][2]int64{
	"mnist/baseline":        {407050, 407050},
	"mnist/morph-frozen":    {83009, 315713},
	"mnist/morph-trained":   {315713, 315713},
	"mnist/lora":            {7272, 414322},
	"cifar10/baseline":      {620362, 620362},
	"cifar10/morph-frozen":  {176257, 505217},
	"cifar10/morph-trained": {505217, 505217},
	"cifar10/lora":          {103528, 630642},
	"sst2/baseline":         {2284994, 14350000},
	"sst2/morph":            {848607, 13000000},
	"sst2/lora":             {90832, 14440000},
}

// newRecord is a complete run with three epochs reaching final test accuracy acc
// (acc−0.02, acc−0.01, acc).
func newRecord(dataset, method string, seed int, acc float64) *Record {
	p := paramsOf[dataset+"/"+method]
	if p[1] == 0 {
		p = [2]int64{1000, 2000}
	}
	r := &Record{
		FormatVersion:     FormatVersion,
		Status:            StatusComplete,
		Dataset:           dataset,
		Method:            method,
		Seed:              seed,
		Backend:           Backend{Name: "simplego", Config: "go:ops_sequential", GoMLX: "v0.26.0"},
		Config:            map[string]any{"epochs": 3.0, "batch_size": 128.0, "learning_rate": 0.001, "optimizer": "adam"},
		FinalTestAccuracy: Float(acc),
		TrainableParams:   p[0],
		TotalParams:       p[1],
		WallSeconds:       31.5,
		PeakRSSBytes:      512 << 20,
		Machine:           Machine{CPU: "Test CPU @ 2.0GHz", Cores: 2, OS: "linux", Arch: "amd64", GoVersion: "go1.26.8", MemoryBytes: 8 << 30},
		Commit:            "abc1234",
		StartedAt:         t0.Add(time.Duration(seed) * time.Hour),
		FinishedAt:        t0.Add(time.Duration(seed)*time.Hour + 32*time.Second),
	}
	for i := 1; i <= 3; i++ {
		r.Epochs = append(r.Epochs, Epoch{Epoch: i, TrainLoss: 1 / float64(i), TestAccuracy: Float(max(0, acc-0.01*float64(3-i))), Seconds: 10})
	}
	if strings.HasPrefix(method, "morph") {
		r.Learned = &Learned{Alpha: Float(0.1 + 0.01*float64(seed))}
	}
	return r
}

// failedRecord is a run that failed after its three epochs.
func failedRecord(dataset, method string, seed int, err string) *Record {
	r := newRecord(dataset, method, seed, 0.5)
	r.Status, r.Error, r.FinalTestAccuracy = StatusFailed, err, nil
	return r
}

// syntheticAccuracies: 2 data sets × 4 methods × 3 seeds, chosen so that mean
// and sample std are easy by hand.
var syntheticAccuracies = []struct {
	dataset, method string
	acc             [3]float64
	mean, std       float64 // hand-computed
}{
	{"mnist", "baseline", [3]float64{0.97, 0.98, 0.99}, 0.98, 0.01},
	{"mnist", "morph-frozen", [3]float64{0.96, 0.965, 0.97}, 0.965, 0.005},
	{"mnist", "morph-trained", [3]float64{0.90, 0.92, 0.97}, 0.93, 0.036055512754639895}, // sqrt((9+1+16)e-4/2)
	{"mnist", "lora", [3]float64{0.92, 0.93, 0.94}, 0.93, 0.01},
	{"cifar10", "baseline", [3]float64{0.70, 0.72, 0.74}, 0.72, 0.02},
	{"cifar10", "morph-frozen", [3]float64{0.71, 0.71, 0.71}, 0.71, 0},
	{"cifar10", "morph-trained", [3]float64{0.73, 0.72, 0.74}, 0.73, 0.01},
	{"cifar10", "lora", [3]float64{0.69, 0.70, 0.71}, 0.70, 0.01},
}

const failedError = `out of memory <allocating> & "retrying" failed`

// syntheticRecords is the test corpus: the 24 runs above, a failed mnist/lora
// seed 3 and two SST-2 runs on the bert-tiny fixture.
func syntheticRecords() []*Record {
	var recs []*Record
	for _, s := range syntheticAccuracies {
		for seed, acc := range s.acc {
			recs = append(recs, newRecord(s.dataset, s.method, seed, acc))
		}
	}
	failed := failedRecord("mnist", "lora", 3, failedError)
	failed.Epochs = failed.Epochs[:1]
	recs = append(recs, failed)

	for _, m := range []string{"baseline", "morph"} {
		r := newRecord("sst2", m, 0, 0.55)
		r.Backbone = "bert-tiny-fixture"
		r.Variant = "cached+bucketed"
		r.FinalDevAccuracy = Float(0.56)
		for i := range r.Epochs {
			r.Epochs[i].DevAccuracy, r.Epochs[i].TestAccuracy = Float(0.5+0.02*float64(i)), nil
		}
		if m == "morph" {
			r.Learned = &Learned{Scales: map[string]float64{"layer2.query": 1.25, "classifier": 0.75}}
		}
		recs = append(recs, r)
	}
	return recs
}

// wellFormed fails the test unless s is well-formed XML (HTML written as
// XHTML-compatible markup parses too) and returns its start elements.
func wellFormed(t *testing.T, s string) []xml.StartElement {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	var starts []xml.StartElement
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return starts
		}
		if err != nil {
			line, col := d.InputPos()
			lines := strings.Split(s, "\n")
			ctx := ""
			if line-1 < len(lines) {
				ctx = lines[line-1]
			}
			t.Fatalf("not well-formed XML at %d:%d: %v\n%s", line, col, err, ctx)
		}
		if se, ok := tok.(xml.StartElement); ok {
			starts = append(starts, se.Copy())
		}
	}
}

func countElements(starts []xml.StartElement, name string) int {
	n := 0
	for _, s := range starts {
		if s.Name.Local == name {
			n++
		}
	}
	return n
}
