package experiments

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// Hooks receive a run's progress: the CLI prints it (Console), notebooks plot it.
// Either function may be nil.
type Hooks struct {
	OnStep  func(StepInfo)
	OnEpoch func(EpochInfo)
}

// StepInfo is reported after every training step.
type StepInfo struct {
	Run            string // e.g. "mnist/lora/seed0"
	Epoch, Epochs  int    // 1-based
	Step, Steps    int    // within the epoch, 1-based
	Loss           float64
	ExamplesPerSec float64
}

// EpochInfo is reported after each epoch's evaluation.
type EpochInfo struct {
	Run           string
	Epoch, Epochs int
	TrainLoss     float64
	Accuracy      float64 // on the evaluation split (test, or dev for SST-2)
	Seconds       float64
}

// Join calls every hook in order.
func Join(hooks ...Hooks) Hooks {
	return Hooks{
		OnStep: func(s StepInfo) {
			for _, h := range hooks {
				if h.OnStep != nil {
					h.OnStep(s)
				}
			}
		},
		OnEpoch: func(e EpochInfo) {
			for _, h := range hooks {
				if h.OnEpoch != nil {
					h.OnEpoch(e)
				}
			}
		},
	}
}

// Console prints progress to w: a progress bar per epoch (steps, loss,
// examples/s) when w is a terminal, plain lines (every tenth of an epoch and
// at its end) otherwise.
func Console(w io.Writer) Hooks {
	if f, ok := w.(*os.File); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return consoleBar(w)
	}
	return consoleLines(w)
}

func consoleBar(w io.Writer) Hooks {
	var bar *progressbar.ProgressBar
	return Hooks{
		OnStep: func(s StepInfo) {
			if bar == nil || s.Step == 1 {
				bar = progressbar.NewOptions(s.Steps,
					progressbar.OptionSetWriter(w),
					progressbar.OptionShowCount(),
					progressbar.OptionSetWidth(30),
					progressbar.OptionThrottle(200*time.Millisecond),
					progressbar.OptionSetPredictTime(true),
					progressbar.OptionClearOnFinish())
			}
			bar.Describe(fmt.Sprintf("%s epoch %d/%d loss %.4f %4.0f ex/s", s.Run, s.Epoch, s.Epochs, s.Loss, s.ExamplesPerSec))
			_ = bar.Set(s.Step)
		},
		OnEpoch: func(e EpochInfo) {
			if bar != nil {
				_ = bar.Finish()
				bar = nil
			}
			fmt.Fprintln(w, epochLine(e))
		},
	}
}

func consoleLines(w io.Writer) Hooks {
	return Hooks{
		OnStep: func(s StepInfo) {
			if tenth := max(s.Steps/10, 1); s.Step%tenth == 0 && s.Step != s.Steps {
				fmt.Fprintf(w, "%s epoch %d/%d step %d/%d loss %.4f (%.0f examples/s)\n",
					s.Run, s.Epoch, s.Epochs, s.Step, s.Steps, s.Loss, s.ExamplesPerSec)
			}
		},
		OnEpoch: func(e EpochInfo) { fmt.Fprintln(w, epochLine(e)) },
	}
}

func epochLine(e EpochInfo) string {
	return fmt.Sprintf("%s epoch %d/%d: train loss %.4f, accuracy %.2f%%, %.1f s",
		e.Run, e.Epoch, e.Epochs, e.TrainLoss, 100*e.Accuracy, e.Seconds)
}
