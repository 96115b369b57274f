package experiments

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/morphreuse/morphreuse-go/results"
)

// syntheticImages is a learnable MNIST-shaped task held in memory: the label
// is written into the image as a bright row.
func syntheticImages(nTrain, nTest int) *ImageData {
	rng := rand.New(rand.NewPCG(3, 4))
	split := func(n int) Data {
		x := make([]float32, n*28*28)
		y := make([]int32, n)
		for i := range y {
			y[i] = int32(rng.IntN(10))
			img := x[i*784 : (i+1)*784]
			for j := range img {
				img[j] = float32(rng.NormFloat64() * 0.3)
			}
			for j := range 28 {
				img[int(y[i])*2*28+j] += 2
			}
		}
		return Data{Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, n, 28, 28, 1)},
			Labels: tensors.FromFlatDataAndDimensions(y, n)}
	}
	return &ImageData{Train: split(nTrain), Test: split(nTest)}
}

func testConfig(t *testing.T, method Method, epochs int) RunConfig {
	t.Helper()
	cfg, err := NewRunConfig("mnist", method, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Epochs = epochs
	return cfg
}

// comparable strips what legitimately differs between two runs: timings and memory.
func comparable(rec *results.Record) results.Record {
	r := *rec
	r.Epochs = append([]results.Epoch(nil), rec.Epochs...)
	for i := range r.Epochs {
		r.Epochs[i].Seconds = 0
	}
	r.WallSeconds, r.PeakRSSBytes, r.Compiles = 0, 0, 0
	r.StartedAt, r.FinishedAt = time.Time{}, time.Time{}
	return r
}

func TestRunLearnsAndIsReproducible(t *testing.T) {
	data := syntheticImages(1024, 256)
	cfg := testConfig(t, MorphTrained, 2)
	a, err := Run(cfg, data, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if acc := *a.FinalTestAccuracy; acc < 0.5 {
		t.Fatalf("test accuracy %.3f after 2 epochs on a trivially learnable task", acc)
	}
	if a.Compiles != 2 {
		t.Errorf("%d graphs compiled, want 2 (one training, one evaluation)", a.Compiles)
	}
	b, err := Run(cfg, data, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(comparable(a), comparable(b)) {
		t.Fatalf("same seed, different records:\n%+v\n%+v", comparable(a), comparable(b))
	}
}

// errInterrupted stands for the process dying mid-epoch.
var errInterrupted = errors.New("interrupted")

func TestResumeFromCheckpointGivesTheSameRecord(t *testing.T) {
	data := syntheticImages(512, 128)
	for _, method := range Methods {
		t.Run(string(method), func(t *testing.T) {
			cfg := testConfig(t, method, 3)
			want, err := Run(cfg, data, Hooks{})
			if err != nil {
				t.Fatal(err)
			}

			cfg.CheckpointDir = filepath.Join(t.TempDir(), "ckpt")
			interrupt := Hooks{OnStep: func(s StepInfo) {
				if s.Epoch == 3 && s.Step == 2 {
					panic(errInterrupted)
				}
			}}
			func() {
				defer func() {
					if r := recover(); r != errInterrupted {
						t.Fatalf("run was not interrupted: %v", r)
					}
				}()
				Run(cfg, data, interrupt)
			}()
			if dirs := listCheckpoints(cfg.CheckpointDir); len(dirs) != 1 || filepath.Base(dirs[0]) != "epoch-0002" {
				t.Fatalf("checkpoints after the interruption: %v, want only epoch-0002", dirs)
			}
			got, err := Run(cfg, data, Hooks{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(comparable(want), comparable(got)) {
				t.Fatalf("resumed run differs from the uninterrupted one:\nwant %+v\ngot  %+v", comparable(want), comparable(got))
			}
		})
	}
}

func TestResumeRefusesAnotherConfiguration(t *testing.T) {
	data := syntheticImages(256, 128)
	cfg := testConfig(t, Baseline, 1)
	cfg.CheckpointDir = t.TempDir()
	if _, err := Run(cfg, data, Hooks{}); err != nil {
		t.Fatal(err)
	}
	cfg.LearningRate = 5e-4
	if _, err := Run(cfg, data, Hooks{}); err == nil {
		t.Fatal("resumed a checkpoint written with another learning rate")
	}
}

func TestDamagedCheckpointIsAClearError(t *testing.T) {
	data := syntheticImages(256, 128)
	cfg := testConfig(t, Baseline, 2)
	cfg.CheckpointDir = t.TempDir()
	stop := Hooks{OnEpoch: func(e EpochInfo) {
		if e.Epoch == 1 {
			panic(errInterrupted)
		}
	}}
	func() {
		defer func() { recover() }()
		Run(cfg, data, stop)
	}()
	dirs := listCheckpoints(cfg.CheckpointDir)
	if len(dirs) != 1 {
		t.Fatalf("checkpoints: %v", dirs)
	}
	bin := filepath.Join(dirs[0], variablesFile)
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(bin, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Run(cfg, data, Hooks{})
	if err == nil || !contains(err.Error(), "damaged", dirs[0]) {
		t.Fatalf("want an error naming the damaged checkpoint, got %v", err)
	}
	if _, statErr := os.Stat(bin); statErr != nil {
		t.Fatal("the damaged checkpoint was deleted")
	}
}

func TestDivergenceFailsTheRunAndNamesTheVariable(t *testing.T) {
	data := syntheticImages(256, 128)
	cfg := testConfig(t, Baseline, 2)
	cfg.LearningRate = 1e38
	rec, err := Run(cfg, data, Hooks{})
	var nf *NonFiniteError
	if !errors.As(err, &nf) {
		t.Fatalf("want a NonFiniteError, got %v", err)
	}
	if len(nf.Variables) == 0 {
		t.Errorf("the error names no variable: %v", err)
	}
	if rec == nil || rec.Status != results.StatusFailed || rec.FinalTestAccuracy != nil || !contains(rec.Error, "step") {
		t.Fatalf("want a failed record without accuracy, naming the step: %+v", rec)
	}
}

func contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func TestProtocolSeeds(t *testing.T) {
	for _, c := range []struct {
		env, quick string
		want       []int
		ok         bool
	}{
		{"", "", []int{0, 1, 2}, true},
		{"0", "", []int{0}, true},
		{" 3, 1 ", "", []int{3, 1}, true},
		{"0,1,2", "1", []int{0}, true},
		{"0,,1", "", nil, false},
		{"1,1", "", nil, false},
		{"-2", "", nil, false},
	} {
		t.Setenv(SeedsEnv, c.env)
		t.Setenv(QuickEnv, c.quick)
		got, err := ProtocolSeeds()
		if (err == nil) != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s=%q quick=%q: got %v, %v; want %v", SeedsEnv, c.env, c.quick, got, err, c.want)
		}
	}
}
