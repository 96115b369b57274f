package experiments

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/results"
)

// Job is one run of any task: a RunConfig (images) or an SST2Config.
type Job interface {
	Name() string
	FileName() string
	// dataKey is equal for jobs that can share loaded data.
	dataKey() string
	load(stderr io.Writer) (any, error)
	run(data any, checkpointDir string, hooks Hooks) (*results.Record, error)
}

func (c RunConfig) dataKey() string {
	return fmt.Sprintf("%s|%d|%d|%s", c.Dataset, c.LimitTrain, c.LimitTest, c.DataDir)
}

func (c RunConfig) load(io.Writer) (any, error) {
	return LoadImages(c.DataDir, c.Dataset, c.LimitTrain, c.LimitTest)
}

func (c RunConfig) run(data any, checkpointDir string, hooks Hooks) (*results.Record, error) {
	c.CheckpointDir = checkpointDir
	return Run(c, data.(*ImageData), hooks)
}

func (c SST2Config) dataKey() string {
	lengths, _ := c.lengths()
	return fmt.Sprintf("sst2|%s|%s|%d|%v|%d|%d", c.Backbone, c.DataDir, c.MaxLen, lengths, c.LimitTrain, c.LimitTest)
}

func (c SST2Config) load(stderr io.Writer) (any, error) {
	lengths, err := c.lengths()
	if err != nil {
		return nil, err
	}
	data, err := LoadSST2Data(c.DataDir, c.Backbone, c.MaxLen, lengths, c.LimitTrain, c.LimitTest)
	if err == nil {
		fmt.Fprintf(stderr, "sst2: backbone %s (%s); %d / %d / %d sentences, padded to %v\n", data.Backbone.Name, c.Backbone,
			data.Train.N, data.Dev.N, data.Test.N, data.Lengths)
	}
	return data, err
}

func (c SST2Config) run(data any, checkpointDir string, hooks Hooks) (*results.Record, error) {
	c.CheckpointDir = checkpointDir
	return RunSST2(c, data.(*SST2Data), hooks)
}

// RunAllOptions tunes RunAll.
type RunAllOptions struct {
	Force bool // run again even when a complete record exists
	// RecordsOnly trains nothing: the jobs with a complete record are
	// returned, the others listed on Stdout as missing (see RecordsOnly()).
	RecordsOnly bool
	Hooks       Hooks     // progress; e.g. Console(os.Stderr), or a notebook's live plot
	Stdout      io.Writer // one line per run (done, skipped); nil: discarded
	Stderr      io.Writer // failures and notes; nil: os.Stderr
}

// RunAll runs every job whose complete record is not yet in dir, writes each
// record there (atomically) and returns the records of all jobs, those
// skipped included, in job order. Each job checkpoints under
// dir/.checkpoints/<name>, so a run killed at any point resumes where it
// stopped when RunAll is called again; the checkpoints are removed once the
// record is written. Data are loaded once for consecutive jobs that share
// them. RunAll goes on after a failed run and reports every failure.
func RunAll(jobs []Job, dir string, opts RunAllOptions) ([]*results.Record, error) {
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("records directory %s: %w", dir, err)
	}
	if _, err := backend.Default(); err != nil {
		return nil, err
	}
	var (
		records  []*results.Record
		failures []error
		data     any
		dataKey  string
	)
	for _, job := range jobs {
		path := filepath.Join(dir, job.FileName())
		rec, skip, err := existingRecord(path, job.Name(), opts.Force, stderr)
		if err != nil {
			return records, err
		}
		if skip {
			fmt.Fprintf(stdout, "%s: done already (%s), skipped\n", job.Name(), path)
			records = append(records, rec)
			continue
		}
		if opts.RecordsOnly {
			fmt.Fprintf(stdout, "%s: no record in %s, not trained ($%s)\n", job.Name(), dir, RecordsOnlyEnv)
			continue
		}
		if data == nil || job.dataKey() != dataKey {
			data = nil // one data set in memory at a time
			if data, err = job.load(stderr); err != nil {
				return records, err
			}
			dataKey = job.dataKey()
		}
		checkpoints := filepath.Join(dir, ".checkpoints", strings.TrimSuffix(job.FileName(), ".json"))
		rec, err = job.run(data, checkpoints, opts.Hooks)
		if rec != nil {
			if werr := results.Write(dir, rec); werr != nil {
				return records, errors.Join(err, fmt.Errorf("writing the record of %s: %w", job.Name(), werr))
			}
			records = append(records, rec)
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: FAILED: %v\n", job.Name(), err)
			failures = append(failures, err)
			continue
		}
		os.RemoveAll(checkpoints) // The record is safely written: the checkpoints have served.
		fmt.Fprintf(stdout, "%s: %s → %s\n", job.Name(), summary(rec), path)
	}
	if len(failures) > 0 {
		return records, fmt.Errorf("%d of %d runs failed: %w", len(failures), len(jobs), errors.Join(failures...))
	}
	return records, nil
}

// existingRecord says what to do about the record already at path: skip the
// run (a complete record, returned), refuse it (a newer format, which
// results.Write would not replace after the run), or run it (none, or
// unreadable: said on stderr).
func existingRecord(path, name string, force bool, stderr io.Writer) (*results.Record, bool, error) {
	rec, err := results.Load(path)
	var ve *results.VersionError
	switch {
	case errors.As(err, &ve):
		return nil, false, fmt.Errorf("%s: %w; not running %s (its record could not be written there)", path, ve, name)
	case !force && err == nil && results.Verify(rec) == nil:
		return rec, true, nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(stderr, "%s: the record there cannot be read (%v): running again\n", name, err)
	}
	return nil, false, nil
}

// summary is a finished run's result in one phrase.
func summary(rec *results.Record) string {
	s := fmt.Sprintf("test accuracy %.2f%% (%d/%d trainable)", 100**rec.FinalTestAccuracy, rec.TrainableParams, rec.TotalParams)
	if rec.FinalDevAccuracy != nil {
		s = fmt.Sprintf("dev accuracy %.2f%%, %s", 100**rec.FinalDevAccuracy, s)
	}
	if rec.Backbone != "" {
		s += " [" + rec.Backbone + "]"
	}
	return s
}

// RecordsOnlyEnv set to true makes the notebooks show the records there are
// and train nothing: e.g. to export a notebook while a long run of the same
// experiment goes on in another process.
const RecordsOnlyEnv = "MORPHREUSE_RECORDS_ONLY"

// RecordsOnly reports whether MORPHREUSE_RECORDS_ONLY asks to train nothing.
func RecordsOnly() bool {
	b, err := strconv.ParseBool(os.Getenv(RecordsOnlyEnv))
	return err == nil && b
}

// LoadRecords reads the records of the jobs that have one in dir, in job
// order; a job without a record is left out, a broken record is an error.
func LoadRecords(jobs []Job, dir string) ([]*results.Record, error) {
	var out []*results.Record
	for _, j := range jobs {
		rec, err := results.Load(filepath.Join(dir, j.FileName()))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// RunsDirEnv names the records directory the notebooks use (default: the
// repository's results/runs); notebooks/export --quick points it elsewhere
// so that quick runs never land beside the real ones.
const RunsDirEnv = "MORPHREUSE_RUNS"

// RunsDir is $MORPHREUSE_RUNS, else fallback.
func RunsDir(fallback string) string {
	if d := os.Getenv(RunsDirEnv); d != "" {
		return d
	}
	return fallback
}
