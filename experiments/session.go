package experiments

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/morph"
	"github.com/morphreuse/morphreuse-go/results"
)

// session is what every run does, whatever its task: choose the backend,
// seed the context, resume from the last checkpoint, train epoch by epoch
// with progress and an end-of-epoch evaluation and checkpoint, and fill in
// the record (a failed one, with the epochs so far, when something breaks).
// Run (images) and RunSST2 say only what differs.
type session struct {
	name          string         // "mnist/lora/seed0": progress and messages
	config        map[string]any // recorded, and checked against a checkpoint being resumed
	seed          int
	epochs        int
	batchSize     int
	checkpointDir string
	record        results.Record // what the task knows: data set, method, variant, backbone, seed

	// setup builds the model in ctx (seeded, a resumed checkpoint attached)
	// and returns the context to train with, the model and its optimizer.
	setup func(b backends.Backend, ctx *context.Context) (*context.Context, Logits, optimizers.Interface, error)
	// prepare, if set, runs once before training (e.g. caching frozen
	// layers); its time is counted in the first epoch trained.
	prepare func(b backends.Backend, ctx *context.Context) error
	// batches are one epoch's training steps.
	batches func(epoch int) ([]batch, error)
	// evaluate measures the accuracy recorded after each epoch, on the test
	// split (or the dev split when dev is set).
	evaluate func(loop *Loop) (float64, error)
	dev      bool
	// finish completes the record after the last epoch (final accuracies, learned values).
	finish func(loop *Loop, ctx *context.Context, rec *results.Record) error
}

// batch is one training step: rows idx of data.
type batch struct {
	data Data
	idx  []int32
}

func (s *session) run(hooks Hooks) (*results.Record, error) {
	started := time.Now()
	choice, err := backend.Default()
	if err != nil {
		return nil, err
	}
	var resumed *checkpoint
	if s.checkpointDir != "" {
		if resumed, err = loadCheckpoint(s.checkpointDir); err != nil {
			return nil, err
		}
		if resumed != nil {
			if err := resumed.matchesRun(s.name, s.config); err != nil {
				return nil, err
			}
		}
	}
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(int64(s.seed)); err != nil {
		return nil, err
	}
	if resumed != nil {
		// Variables come from the checkpoint as the model creates them.
		if err := resumed.attach(ctx); err != nil {
			return nil, err
		}
		ctx = ctx.Checked(false)
	}
	ctx, model, optimizer, err := s.setup(choice.Backend, ctx)
	if err != nil {
		return nil, err
	}
	params := morph.CountParameters(ctx.In(ModelScope))
	loop := NewLoop(choice.Backend, ctx, model, optimizer)
	defer loop.Finalize()

	rec := s.record
	rec.Seed = s.seed
	rec.Backend = results.Backend{Name: choice.Name(), Config: choice.Config, GoMLX: gomlxVersion()}
	rec.Config = s.config
	rec.TrainableParams, rec.TotalParams = params.Trainable, params.Total
	rec.Machine, rec.Commit, rec.StartedAt = results.CurrentMachine(), results.GitCommit("."), started
	var earlierSeconds float64
	if resumed != nil {
		rec.Epochs, rec.StartedAt, earlierSeconds = resumed.state.Epochs, resumed.state.StartedAt, resumed.state.WallSeconds
		fmt.Fprintf(os.Stderr, "%s: resuming after epoch %d from %s\n", s.name, len(rec.Epochs), resumed.dir)
	}
	end := func(runErr error) (*results.Record, error) {
		rec.FinishedAt = time.Now()
		rec.WallSeconds = earlierSeconds + rec.FinishedAt.Sub(started).Seconds()
		rec.PeakRSSBytes, rec.Compiles = results.PeakRSS(), loop.Compiles()
		if runErr != nil {
			rec.Status, rec.Error = results.StatusFailed, runErr.Error()
			return &rec, fmt.Errorf("%s: %w", s.name, runErr)
		}
		rec.Status = results.StatusComplete
		return &rec, nil
	}

	var prepSeconds float64
	if s.prepare != nil {
		prepStart := time.Now()
		if err := s.prepare(choice.Backend, ctx); err != nil {
			return end(err)
		}
		prepSeconds = time.Since(prepStart).Seconds()
	}
	for epoch := len(rec.Epochs) + 1; epoch <= s.epochs; epoch++ {
		start := time.Now()
		batches, err := s.batches(epoch)
		if err != nil {
			return end(err)
		}
		rec.StepsPerEpoch = len(batches)
		var lossSum float64
		for step, b := range batches {
			loss, err := loop.TrainStep(b.data, b.idx)
			if err != nil {
				return end(fmt.Errorf("epoch %d step %d: %w", epoch, step+1, err))
			}
			lossSum += loss
			if hooks.OnStep != nil {
				elapsed := time.Since(start).Seconds()
				hooks.OnStep(StepInfo{Run: s.name, Epoch: epoch, Epochs: s.epochs, Step: step + 1, Steps: len(batches),
					Loss: loss, ExamplesPerSec: float64((step+1)*s.batchSize) / elapsed})
			}
		}
		accuracy, err := s.evaluate(loop)
		if err != nil {
			return end(fmt.Errorf("epoch %d evaluation: %w", epoch, err))
		}
		e := results.Epoch{Epoch: epoch, TrainLoss: lossSum / float64(len(batches)),
			Seconds: time.Since(start).Seconds() + prepSeconds}
		prepSeconds = 0
		if s.dev {
			e.DevAccuracy = results.Float(accuracy)
		} else {
			e.TestAccuracy = results.Float(accuracy)
		}
		rec.Epochs = append(rec.Epochs, e)
		if resumed != nil {
			if unused := resumed.unused(); len(unused) > 0 {
				return end(fmt.Errorf("checkpoint %s holds variables this model does not use (%s): it belongs to another model; delete it to start over",
					resumed.dir, strings.Join(unused, ", ")))
			}
			resumed = nil
		}
		if s.checkpointDir != "" {
			if err := saveCheckpoint(s.checkpointDir, ctx, checkpointState{Run: s.name, Config: s.config, Epochs: rec.Epochs,
				StartedAt: rec.StartedAt, WallSeconds: earlierSeconds + time.Since(started).Seconds()}); err != nil {
				return end(fmt.Errorf("epoch %d: %w", epoch, err))
			}
		}
		if hooks.OnEpoch != nil {
			hooks.OnEpoch(EpochInfo{Run: s.name, Epoch: epoch, Epochs: s.epochs, TrainLoss: e.TrainLoss, Accuracy: accuracy, Seconds: e.Seconds})
		}
	}
	if err := s.finish(loop, ctx, &rec); err != nil {
		return end(err)
	}
	return end(nil)
}
