package experiments

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/morphreuse/morphreuse-go/datasets"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/morph"
	"github.com/morphreuse/morphreuse-go/results"
)

// Task is an image data set with its model family and SPEC §2 protocol.
type Task struct {
	Dataset string // datasets name: "mnist", "fashion-mnist", "cifar10"
	Arch    Arch
	Epochs  int
}

// Tasks are the image experiments of SPEC §2, in report order.
var Tasks = []Task{
	{Dataset: "mnist", Arch: MLP, Epochs: 5},
	{Dataset: "fashion-mnist", Arch: MLP, Epochs: 5},
	{Dataset: "cifar10", Arch: CNN, Epochs: 10},
}

// LookupTask returns the task of a data set name.
func LookupTask(dataset string) (Task, error) {
	for _, t := range Tasks {
		if t.Dataset == dataset {
			return t, nil
		}
	}
	names := make([]string, len(Tasks))
	for i, t := range Tasks {
		names[i] = t.Dataset
	}
	return Task{}, fmt.Errorf("unknown data set %q (want one of %v)", dataset, names)
}

// Seeds of the protocol.
var Seeds = []int{0, 1, 2}

// SeedsEnv overrides the seeds of the notebooks' runs, e.g. "0" (CIFAR-10's
// 10 epochs per seed are hours on a 2-core CPU without XLA).
const SeedsEnv = "MORPHREUSE_SEEDS"

// ProtocolSeeds are the seeds to run: $MORPHREUSE_SEEDS if set (an error if
// malformed), else Seeds; only the first one in quick mode.
func ProtocolSeeds() ([]int, error) {
	seeds := Seeds
	if v := strings.TrimSpace(os.Getenv(SeedsEnv)); v != "" {
		seeds = nil
		for _, part := range strings.Split(v, ",") {
			k, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil || k < 0 || slices.Contains(seeds, k) {
				return nil, fmt.Errorf("%s=%q: want distinct non-negative integers separated by commas, e.g. 0,1,2", SeedsEnv, v)
			}
			seeds = append(seeds, k)
		}
	}
	if Quick() {
		seeds = seeds[:1]
	}
	return seeds, nil
}

// QuickEnv is the environment variable that shrinks every experiment for a
// smoke run (notebooks in CI): a few hundred examples, one epoch, one seed.
const QuickEnv = "MORPHREUSE_QUICK"

// Quick reports whether MORPHREUSE_QUICK asks for quick runs.
func Quick() bool {
	v, ok := os.LookupEnv(QuickEnv)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// RunConfig is one run: a data set, a method, a seed, and the protocol.
type RunConfig struct {
	Dataset      string
	Method       Method
	Seed         int
	Epochs       int     // SPEC: 5 (MNIST, FashionMNIST), 10 (CIFAR-10)
	BatchSize    int     // 128
	LearningRate float64 // Adam 1e-3
	AdamEpsilon  float64 // 1e-8 (PyTorch's default; GoMLX's is 1e-7)
	DataDir      string  // see datasets.Dir
	LimitTrain   int     // use only the first N training examples (0: all)
	LimitTest    int     // evaluate on the first N test examples (0: all)
	Quick        bool    // recorded: this was a smoke run
	// CheckpointDir, when set, holds end-of-epoch checkpoints: a run started
	// again with the same configuration resumes from the last one.
	CheckpointDir string
}

// NewRunConfig is the SPEC §2 protocol for a data set and method, shrunk when quick.
func NewRunConfig(dataset string, method Method, seed int, quick bool) (RunConfig, error) {
	task, err := LookupTask(dataset)
	if err != nil {
		return RunConfig{}, err
	}
	if !slices.Contains(Methods, method) {
		return RunConfig{}, fmt.Errorf("unknown method %q (want one of %v)", method, Methods)
	}
	c := RunConfig{Dataset: dataset, Method: method, Seed: seed, Epochs: task.Epochs,
		BatchSize: 128, LearningRate: 1e-3, AdamEpsilon: 1e-8}
	if quick {
		c.Quick, c.Epochs, c.LimitTrain, c.LimitTest = true, 1, 512, 256
	}
	return c, nil
}

// Validate reports a configuration that cannot run.
func (c RunConfig) Validate() error {
	var errs []error
	if _, err := LookupTask(c.Dataset); err != nil {
		errs = append(errs, err)
	}
	if !slices.Contains(Methods, c.Method) {
		errs = append(errs, fmt.Errorf("unknown method %q (want one of %v)", c.Method, Methods))
	}
	if c.Epochs <= 0 {
		errs = append(errs, fmt.Errorf("epochs must be > 0, got %d", c.Epochs))
	}
	if c.BatchSize <= 0 {
		errs = append(errs, fmt.Errorf("batch size must be > 0, got %d", c.BatchSize))
	}
	if c.LearningRate <= 0 || c.AdamEpsilon <= 0 {
		errs = append(errs, fmt.Errorf("learning rate and Adam epsilon must be > 0"))
	}
	if c.LimitTrain < 0 || c.LimitTest < 0 {
		errs = append(errs, fmt.Errorf("limits must be ≥ 0"))
	}
	if c.Seed < 0 {
		errs = append(errs, fmt.Errorf("seed must be ≥ 0, got %d", c.Seed))
	}
	return errors.Join(errs...)
}

// Name is the run's label in progress output: "mnist/lora/seed0".
func (c RunConfig) Name() string { return fmt.Sprintf("%s/%s/seed%d", c.Dataset, c.Method, c.Seed) }

// FileName is the run's record file name.
func (c RunConfig) FileName() string {
	return results.FileName(c.Dataset, string(c.Method), "", c.Seed)
}

func (c RunConfig) configMap() map[string]any {
	m := map[string]any{
		"epochs": c.Epochs, "batch_size": c.BatchSize, "optimizer": "adam",
		"learning_rate": c.LearningRate, "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": c.AdamEpsilon,
		"limit_train": c.LimitTrain, "limit_test": c.LimitTest, "quick": c.Quick,
		"last_batch": "dropped (reshuffled every epoch)",
	}
	return m
}

// ImageData is a task's training and test split, on the device.
type ImageData struct {
	Train, Test Data
}

// LoadImages loads a data set's splits (downloading missing files) and
// keeps the first limitTrain / limitTest examples when those are > 0.
func LoadImages(dir, dataset string, limitTrain, limitTest int) (*ImageData, error) {
	load := func(split datasets.Split, limit int) (Data, error) {
		im, err := datasets.Load(dir, dataset, split)
		if err != nil {
			return Data{}, err
		}
		if limit > 0 && limit < im.N {
			im = im.Subset(limit)
		}
		x, y := im.Tensors(false)
		return Data{Inputs: []*tensors.Tensor{x}, Labels: y}, nil
	}
	train, err := load(datasets.Train, limitTrain)
	if err != nil {
		return nil, err
	}
	test, err := load(datasets.Test, limitTest)
	if err != nil {
		return nil, err
	}
	return &ImageData{Train: train, Test: test}, nil
}

// Run trains one model by the protocol and returns its record; data may be
// nil (then it is loaded from cfg.DataDir). A run that fails after it started
// training returns a record with Status "failed" and the epochs so far,
// together with the error.
func Run(cfg RunConfig, data *ImageData, hooks Hooks) (*results.Record, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	task, _ := LookupTask(cfg.Dataset)
	choice, err := backend.Default()
	if err != nil {
		return nil, err
	}
	if data == nil {
		if data, err = LoadImages(cfg.DataDir, cfg.Dataset, cfg.LimitTrain, cfg.LimitTest); err != nil {
			return nil, err
		}
	}
	if err := errors.Join(data.Train.ToDevice(choice.Backend), data.Test.ToDevice(choice.Backend)); err != nil {
		return nil, err
	}
	model := NewModelConfig(task.Arch, cfg.Method)
	s := &session{
		name: cfg.Name(), config: cfg.configMap(), seed: cfg.Seed, epochs: cfg.Epochs, batchSize: cfg.BatchSize,
		checkpointDir: cfg.CheckpointDir,
		record:        results.Record{Dataset: cfg.Dataset, Method: string(cfg.Method)},
		setup: func(b backends.Backend, ctx *context.Context) (*context.Context, Logits, optimizers.Interface, error) {
			ctx, err := model.Setup(b, ctx)
			adam := optimizers.Adam().LearningRate(cfg.LearningRate).Betas(0.9, 0.999).Epsilon(cfg.AdamEpsilon).Done()
			return ctx, model.Logits, adam, err
		},
		batches: func(epoch int) ([]batch, error) {
			order, err := datasets.EpochOrder(data.Train.N(), cfg.BatchSize, uint64(cfg.Seed), epoch)
			batches := make([]batch, len(order))
			for i, idx := range order {
				batches[i] = batch{data: data.Train, idx: idx}
			}
			return batches, err
		},
		evaluate: func(loop *Loop) (float64, error) {
			accuracy, _, err := loop.Evaluate(data.Test, cfg.BatchSize)
			return accuracy, err
		},
		finish: func(_ *Loop, ctx *context.Context, rec *results.Record) (err error) {
			rec.FinalTestAccuracy = rec.Epochs[len(rec.Epochs)-1].TestAccuracy
			if cfg.Method == MorphFrozen || cfg.Method == MorphTrained {
				rec.Learned, err = learned(ctx.In(ModelScope))
			}
			return err
		},
	}
	return s.run(hooks)
}

// learned reads the core's α and any wrapper scales of a trained morph model.
func learned(ctx *context.Context) (*results.Learned, error) {
	alphas, err := morph.Alphas(ctx)
	if err != nil {
		return nil, err
	}
	if len(alphas) != 1 {
		return nil, fmt.Errorf("want one shared core, found %d", len(alphas))
	}
	l := &results.Learned{Alpha: results.Float(alphas[0].Value)}
	scales, err := morph.Scales(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range scales {
		if l.Scales == nil {
			l.Scales = map[string]float64{}
		}
		l.Scales[s.Name] = s.Value
	}
	return l, nil
}

// gomlxVersion is the GoMLX module version this binary was built with.
func gomlxVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == "github.com/gomlx/gomlx" {
				return m.Version
			}
		}
	}
	return "unknown"
}

// Parameters builds a data set's model for method (with its initial values)
// and counts its parameters, as a run would record them.
func Parameters(dataset string, method Method) (morph.Params, error) {
	task, err := LookupTask(dataset)
	if err != nil {
		return morph.Params{}, err
	}
	choice, err := backend.Default()
	if err != nil {
		return morph.Params{}, err
	}
	ctx, err := NewModelConfig(task.Arch, method).Setup(choice.Backend, context.New())
	if err != nil {
		return morph.Params{}, err
	}
	return morph.CountParameters(ctx.In(ModelScope)), nil
}
