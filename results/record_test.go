package results

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestFileName(t *testing.T) {
	for _, tc := range []struct {
		dataset, method, variant string
		seed                     int
		want                     string
	}{
		{"mnist", "baseline", "", 0, "mnist_baseline_seed0.json"},
		{"fashion-mnist", "morph-frozen", "", 2, "fashion-mnist_morph-frozen_seed2.json"},
		{"cifar10", "lora", "", 12, "cifar10_lora_seed12.json"},
		{"sst2", "morph", "cached+bucketed", 1, "sst2_morph-cached+bucketed_seed1.json"},
	} {
		if got := FileName(tc.dataset, tc.method, tc.variant, tc.seed); got != tc.want {
			t.Errorf("FileName(%q, %q, %q, %d) = %q, want %q", tc.dataset, tc.method, tc.variant, tc.seed, got, tc.want)
		}
	}
	r := newRecord("cifar10", "morph-trained", 1, 0.7)
	if got := r.FileName(); got != "cifar10_morph-trained_seed1.json" {
		t.Errorf("Record.FileName = %q", got)
	}
}

func TestValidate(t *testing.T) {
	failed := func(r *Record) {
		r.Status, r.Error, r.FinalTestAccuracy = StatusFailed, "boom", nil
	}
	for _, tc := range []struct {
		name   string
		modify func(*Record)
		want   string // "" means valid
	}{
		{"complete", func(*Record) {}, ""},
		{"failed", failed, ""},
		{"failed before building the model", func(r *Record) { failed(r); r.Epochs, r.TrainableParams, r.TotalParams = nil, 0, 0 }, ""},
		{"diverged loss", func(r *Record) { r.Epochs[0].TrainLoss = math.NaN() }, ""},
		{"version", func(r *Record) { r.FormatVersion = 0 }, "format_version 0"},
		{"status", func(r *Record) { r.Status = "running" }, `status "running"`},
		{"empty dataset", func(r *Record) { r.Dataset = "" }, "dataset"},
		{"dataset with slash", func(r *Record) { r.Dataset = "../etc" }, "dataset"},
		{"method with underscore", func(r *Record) { r.Method = "morph_frozen" }, "method"},
		{"variant with space", func(r *Record) { r.Variant = "a b" }, "variant"},
		{"negative seed", func(r *Record) { r.Seed = -1 }, "seed -1"},
		{"no backend", func(r *Record) { r.Backend.Name = "" }, "backend.name"},
		{"no commit", func(r *Record) { r.Commit = "" }, "commit"},
		{"no config", func(r *Record) { r.Config = nil }, "config"},
		{"no start", func(r *Record) { r.StartedAt = time.Time{} }, "started_at"},
		{"finished before start", func(r *Record) { r.FinishedAt = r.StartedAt.Add(-time.Second) }, "before started_at"},
		{"accuracy above 1", func(r *Record) { r.FinalTestAccuracy = Float(97.7) }, "final_test_accuracy 97.7 is not a fraction"},
		{"accuracy negative", func(r *Record) { r.FinalDevAccuracy = Float(-0.1) }, "final_dev_accuracy"},
		{"accuracy NaN", func(r *Record) { r.FinalTestAccuracy = Float(math.NaN()) }, "final_test_accuracy"},
		{"epoch accuracy", func(r *Record) { r.Epochs[1].TestAccuracy = Float(1.5) }, "epochs[1].test_accuracy"},
		{"epoch numbering", func(r *Record) { r.Epochs[1].Epoch = 3 }, "epochs[1].epoch is 3, want 2"},
		{"epoch seconds", func(r *Record) { r.Epochs[0].Seconds = -1 }, "epochs[0].seconds"},
		{"params", func(r *Record) { r.TrainableParams = r.TotalParams + 1 }, "trainable ≤ total"},
		{"complete without params", func(r *Record) { r.TrainableParams, r.TotalParams = 0, 0 }, "total_params > 0"},
		{"complete without accuracy", func(r *Record) { r.FinalTestAccuracy = nil }, "needs final_test_accuracy"},
		{"complete without epochs", func(r *Record) { r.Epochs = nil }, "at least one epoch"},
		{"complete with error", func(r *Record) { r.Error = "x" }, "carries error"},
		{"failed without error", func(r *Record) { failed(r); r.Error = "" }, "needs its error"},
		{"failed with accuracy", func(r *Record) { failed(r); r.FinalTestAccuracy = Float(0.5) }, "must not carry final accuracies"},
		{"wall NaN", func(r *Record) { r.WallSeconds = math.NaN() }, "wall_seconds"},
		{"learned alpha Inf", func(r *Record) { r.Learned = &Learned{Alpha: Float(math.Inf(1))} }, "learned.alpha"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecord("mnist", "baseline", 0, 0.97)
			tc.modify(r)
			err := Validate(r)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("want an error mentioning %q, got none", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	if err := Validate(nil); err == nil {
		t.Error("Validate(nil) = nil")
	}
}

func TestVerify(t *testing.T) {
	r := newRecord("mnist", "lora", 1, 0.93)
	if err := Verify(r); err != nil {
		t.Fatalf("complete run: %v", err)
	}
	short := newRecord("mnist", "lora", 1, 0.93)
	short.Epochs = short.Epochs[:2]
	if err := Verify(short); err == nil || !strings.Contains(err.Error(), "2 epochs recorded, config says 3") {
		t.Errorf("run with missing epochs: %v", err)
	}
	f := failedRecord("mnist", "lora", 1, "killed")
	if err := Verify(f); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("failed run: %v", err)
	}
	bad := newRecord("mnist", "lora", 1, 0.93)
	bad.FinalTestAccuracy = Float(93)
	if err := Verify(bad); err == nil {
		t.Error("invalid run verified")
	}
}

func TestEpochNonFiniteLoss(t *testing.T) {
	for _, loss := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		data, err := json.Marshal(Epoch{Epoch: 1, TrainLoss: loss, Seconds: 2})
		if err != nil {
			t.Fatalf("marshal loss %v: %v", loss, err)
		}
		if !strings.Contains(string(data), `"train_loss":null`) {
			t.Errorf("loss %v written as %s", loss, data)
		}
		var e Epoch
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatal(err)
		}
		if !math.IsNaN(e.TrainLoss) || e.Seconds != 2 {
			t.Errorf("read back %+v", e)
		}
	}
	var e Epoch
	if err := json.Unmarshal([]byte(`{"epoch":1,"train_loss":0.5,"seconds":1,"test_acc":0.9}`), &e); err == nil {
		t.Error("unknown epoch field accepted")
	}
}

func TestCaveats(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Record)
		want   string
	}{
		{"full", func(*Record) {}, ""},
		{"quick", func(r *Record) { r.Config["quick"] = true }, "quick run"},
		{"not quick", func(r *Record) { r.Config["quick"] = false; r.Config["limit_train"] = 0 }, ""},
		{"limits", func(r *Record) { r.Config["limit_train"] = 2000; r.Config["limit_test"] = 500.0 },
			"train limited to 2,000 examples; test limited to 500 examples"},
		{"fixture", func(r *Record) { r.Backbone = "bert-tiny-fixture" }, "fixture backbone"},
		{"tinybert", func(r *Record) { r.Backbone = "huawei-noah/TinyBERT_General_4L_312D" }, ""},
	} {
		r := newRecord("sst2", "baseline", 0, 0.8)
		tc.modify(r)
		if got := strings.Join(r.Caveats(), "; "); got != tc.want {
			t.Errorf("%s: Caveats = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestBackendAndMachineStrings(t *testing.T) {
	b := Backend{Name: "simplego", Config: "go:ops_sequential", GoMLX: "v0.26.0"}
	if got, want := b.String(), "simplego (go:ops_sequential, GoMLX v0.26.0)"; got != want {
		t.Errorf("Backend.String = %q, want %q", got, want)
	}
	m := Machine{CPU: "X", Cores: 2, GOMAXPROCS: 1, OS: "linux", Arch: "amd64", GoVersion: "go1.26.8", MemoryBytes: 3 << 29}
	if got, want := m.String(), "X, 2 cores (GOMAXPROCS 1), 1.5 GiB RAM, linux/amd64, go1.26.8"; got != want {
		t.Errorf("Machine.String = %q, want %q", got, want)
	}
}
