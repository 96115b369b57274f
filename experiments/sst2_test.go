package experiments

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/morphreuse/morphreuse-go/datasets"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/internal/nn"
	"github.com/morphreuse/morphreuse-go/results"
	"github.com/morphreuse/morphreuse-go/tinybert"
)

// fixtureBackbone is the bert-tiny golden fixture, committed with tinybert.
const fixtureBackbone = "../tinybert/testdata/bert-tiny"

// overfitSentences are the first 256 SST-2 training sentences (tinybert/testdata).
const overfitSentences = "../tinybert/testdata/sst2_train_256.tsv"

// sst2Dir lays out an SST-2 directory whose three splits are the given file.
func sst2Dir(t testing.TB, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "SST-2"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, split := range []string{"train", "dev", "test"} {
		if err := os.WriteFile(filepath.Join(dir, "SST-2", split+".tsv"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var overfitData = struct {
	sync.Once
	d   *SST2Data
	err error
}{}

// loadOverfitData is the 256 sentences (as train, dev and test) for the fixture, bucketed.
func loadOverfitData(t testing.TB) *SST2Data {
	t.Helper()
	overfitData.Do(func() {
		overfitData.d, overfitData.err = LoadSST2Data(sst2Dir(t, overfitSentences), fixtureBackbone, 64, DefaultSST2Buckets, 0, 0)
	})
	if overfitData.err != nil {
		t.Fatal(overfitData.err)
	}
	return overfitData.d
}

// paramValues copies every model parameter's value.
func paramValues(ctx *context.Context) map[string][]float32 {
	out := map[string][]float32{}
	for v := range nn.Parameters(ctx.In(ModelScope)) {
		out[v.ScopeAndName()] = tensors.MustCopyFlatData[float32](v.MustValue())
	}
	return out
}

// TestOverfitLearnsOnlyTheTrainableParts is the learning check: the first 256
// SST-2 training sentences, the bert-tiny fixture, batch 32, AdamW without weight decay,
// 400 steps (dropout on), then training accuracy in eval mode. transformers reached
// 92.6% (baseline) and 91.4% (lora) at lr 3e-3 and 66.4% (morph) at lr 1e-3. It also
// checks that every trainable parameter changed and no frozen one did.
func TestOverfitLearnsOnlyTheTrainableParts(t *testing.T) {
	if testing.Short() {
		t.Skip("3 × 400 training steps: about a minute on simplego")
	}
	data := loadOverfitData(t)
	b := backend.MustDefault().Backend
	for _, c := range []struct {
		method Method
		lr     float64
		min    float64
	}{{Baseline, 3e-3, 0.85}, {LoRA, 3e-3, 0.85}, {Morph, 1e-3, 0.60}} {
		t.Run(string(c.method), func(t *testing.T) {
			start := time.Now()
			m, err := tinybert.NewModel(data.Pretrained.Config, tinybert.Method(c.method))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.New()
			if err := ctx.SetRNGStateFromSeed(0); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Setup(b, ctx.In(ModelScope), data.Pretrained.Weights); err != nil {
				t.Fatal(err)
			}
			ctx = ctx.Reuse()
			before := paramValues(ctx)
			train, err := frozenInputs(b, ctx, m, data.Train)
			if err != nil {
				t.Fatal(err)
			}
			loop := NewLoop(b, ctx, sst2Logits(m, true), optimizers.Adam().LearningRate(c.lr).Epsilon(1e-8).Done())
			defer loop.Finalize()
			const steps = 400
			var first, last float64
			for step, epoch := 0, 1; step < steps; epoch++ {
				batches, err := sst2EpochBatches(data.Train, 32, 0, epoch)
				if err != nil {
					t.Fatal(err)
				}
				for _, bt := range batches[:min(len(batches), steps-step)] {
					loss, err := loop.TrainStep(train[bt.bucket], bt.idx)
					if err != nil {
						t.Fatal(err)
					}
					if step == 0 {
						first = loss
					}
					last = loss
					step++
				}
			}
			acc, loss, err := evaluateBuckets(loop, train, 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s lr %g: training accuracy %.1f%% (eval mode, loss %.3f; batch loss %.3f → %.3f) in %.1fs, %d graphs",
				c.method, c.lr, 100*acc, loss, first, last, time.Since(start).Seconds(), loop.Compiles())
			if acc < c.min {
				t.Errorf("%s: training accuracy %.1f%% after %d steps, want ≥ %.0f%%", c.method, 100*acc, steps, 100*c.min)
			}
			after := paramValues(ctx)
			trainable := 0
			for v := range nn.Parameters(ctx.In(ModelScope)) {
				name := v.ScopeAndName()
				changed := !slices.Equal(before[name], after[name])
				switch {
				case v.Trainable && !changed:
					t.Errorf("trainable %s did not change", name)
				case !v.Trainable && changed:
					t.Errorf("frozen %s changed", name)
				case v.Trainable:
					trainable++
				}
			}
			if trainable == 0 {
				t.Error("nothing trainable")
			}
		})
	}
}

// TestSST2EpochBatches: every example at most once per epoch, within its bucket; one
// bucket gives exactly datasets.EpochOrder's batches.
func TestSST2EpochBatches(t *testing.T) {
	data := loadOverfitData(t)
	s := data.Train
	if len(s.Buckets) < 2 {
		t.Fatalf("the 256 sentences fill %d buckets, want several", len(s.Buckets))
	}
	batches, err := sst2EpochBatches(s, 32, 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int32]bool{}
	for _, bt := range batches {
		bucket := s.Buckets[bt.bucket]
		if len(bt.idx) != 32 {
			t.Fatalf("batch of %d", len(bt.idx))
		}
		for _, i := range bt.idx {
			row := bucket.Rows[i]
			if seen[row] {
				t.Fatalf("example %d twice in an epoch", row)
			}
			seen[row] = true
		}
	}
	dropped := s.N - len(seen)
	if dropped < 0 || dropped >= 32*len(s.Buckets) {
		t.Errorf("%d examples dropped, want < 32 per bucket", dropped)
	}
	again, _ := sst2EpochBatches(s, 32, 7, 1)
	other, _ := sst2EpochBatches(s, 32, 7, 2)
	if fmt.Sprint(again) != fmt.Sprint(batches) || fmt.Sprint(other) == fmt.Sprint(batches) {
		t.Error("batches are not a function of (seed, epoch)")
	}
	one := &SST2Split{N: 100, Buckets: []*SST2Bucket{{Length: 64, Rows: make([]int32, 100)}}}
	for i := range one.Buckets[0].Rows {
		one.Buckets[0].Rows[i] = int32(i)
	}
	got, _ := sst2EpochBatches(one, 32, 3, 2)
	want, _ := datasets.EpochOrder(100, 32, 3, 2)
	for i := range want {
		if !slices.Equal(got[i].idx, want[i]) {
			t.Fatalf("batch %d: %v, EpochOrder %v", i, got[i].idx, want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d batches, EpochOrder %d", len(got), len(want))
	}
}

func sst2TestConfig(t *testing.T, method Method, dir string) SST2Config {
	t.Helper()
	cfg, err := NewSST2Config(method, 0, fixtureBackbone, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.Epochs, cfg.LimitTrain, cfg.LimitTest = dir, 2, 128, 64
	return cfg
}

// TestRunSST2ResumesToTheSameRecord: an SST-2 run (cached, bucketed) on the fixture
// writes a valid record naming the fixture backbone, with dev accuracy per epoch and
// test accuracy at the end; interrupted mid-epoch and started again, it resumes from
// its checkpoint to exactly the uninterrupted record.
func TestRunSST2ResumesToTheSameRecord(t *testing.T) {
	dir := sst2Dir(t, overfitSentences)
	cfg := sst2TestConfig(t, Morph, dir)
	cfg.Cache, cfg.Buckets = true, DefaultSST2Buckets
	want, err := RunSST2(cfg, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	written := *want
	written.FormatVersion = results.FormatVersion // results.Write fills it in
	if err := results.Verify(&written); err != nil {
		t.Fatal(err)
	}
	if want.Dataset != SST2 || want.Backbone != tinybert.FixtureBackbone || want.Variant != "fixture+cached+bucketed" ||
		want.FileName() != "sst2_morph-fixture+cached+bucketed_seed0.json" || want.FinalTestAccuracy == nil || want.FinalDevAccuracy == nil {
		t.Fatalf("record %+v", want)
	}
	for _, e := range want.Epochs {
		if e.DevAccuracy == nil || e.TestAccuracy != nil {
			t.Fatalf("epoch %d: want dev accuracy only, got %+v", e.Epoch, e)
		}
	}
	if want.Learned == nil || len(want.Learned.Scales) != 13 || want.TrainableParams != (32*32+32)+(32*64+64)+(64*32+32)+(32*2+2)+13 {
		t.Errorf("learned %+v, trainable %d", want.Learned, want.TrainableParams)
	}
	if want.Compiles > 2*len(DefaultSST2Buckets) {
		t.Errorf("%d graphs compiled, want at most one training and one evaluation graph per padded length", want.Compiles)
	}

	cfg.CheckpointDir = filepath.Join(t.TempDir(), "ckpt")
	func() {
		defer func() {
			if r := recover(); r != errInterrupted {
				t.Fatalf("run was not interrupted: %v", r)
			}
		}()
		RunSST2(cfg, nil, Hooks{OnStep: func(s StepInfo) {
			if s.Epoch == 2 && s.Step == 1 {
				panic(errInterrupted)
			}
		}})
	}()
	got, err := RunSST2(cfg, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(comparable(want), comparable(got)) {
		t.Fatalf("resumed run differs from the uninterrupted one:\nwant %+v\ngot  %+v", comparable(want), comparable(got))
	}
	other := cfg
	other.Buckets = nil
	if _, err := RunSST2(other, nil, Hooks{}); err == nil {
		t.Error("a run of another configuration resumed the checkpoint")
	}
}

// TestCachingIsExact: with the same batches, training from the cached frozen bottom
// computes what training from token ids computes (the bottom has no dropout, and the
// top draws the same dropout masks): same losses and accuracies, to float rounding.
func TestCachingIsExact(t *testing.T) {
	dir := sst2Dir(t, overfitSentences)
	cfg := sst2TestConfig(t, LoRA, dir)
	cfg.MaxLen, cfg.LimitTrain = 32, 64
	plain, err := RunSST2(cfg, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cache = true
	cached, err := RunSST2(cfg, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Compiles != 2 {
		t.Errorf("plain run compiled %d graphs, want 2", plain.Compiles)
	}
	for i, e := range plain.Epochs {
		c := cached.Epochs[i]
		if math.Abs(e.TrainLoss-c.TrainLoss) > 1e-5 || *e.DevAccuracy != *c.DevAccuracy {
			t.Errorf("epoch %d: plain loss %.7f dev %.4f, cached loss %.7f dev %.4f", e.Epoch, e.TrainLoss, *e.DevAccuracy, c.TrainLoss, *c.DevAccuracy)
		}
	}
	if *plain.FinalTestAccuracy != *cached.FinalTestAccuracy || plain.Variant != "fixture" || cached.Variant != "fixture+cached" {
		t.Errorf("plain %s test %v, cached %s test %v", plain.Variant, *plain.FinalTestAccuracy, cached.Variant, *cached.FinalTestAccuracy)
	}
}
