// Command morphreuse runs the MorphReuse experiments headless: the same
// experiments the notebooks run, writing one JSON record per run and an HTML
// report made from the records.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/morphreuse/morphreuse-go/experiments"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/results"
)

const usage = `morphreuse — shaped weight sharing (MorphReuse) vs full training vs LoRA, in Go.

Usage:
  morphreuse <command> [flags]

Commands:
  reproduce   every data set × method × seed of the protocol, then the report
  run         one data set and method, one or more seeds
  report      the HTML report and results/README.md from the records
  params      the trainable / total parameter line of a model
  backend     which GoMLX backend would be used here, and why
  help        this text ("morphreuse <command> -h" for a command's flags)

Examples:
  morphreuse reproduce                         # the whole protocol (hours on a 2-core CPU without XLA)
  morphreuse reproduce --quick                 # a smoke run of everything in a few minutes
  morphreuse run --dataset mnist --method morph-frozen --seeds 0,1,2
  morphreuse run --dataset cifar10 --method lora --epochs 1 --limit-train 2000
  morphreuse report --in results/runs --out results/report.html
  morphreuse params --dataset cifar10 --method lora

Environment:
  GOMLX_BACKEND     force a backend: "go" (simplego, pure Go) or "xla:cpu"
  MORPHREUSE_DATA   data directory (default ~/.cache/morphreuse/data)
  MORPHREUSE_QUICK  1: shrink every run (512 training examples, 1 epoch, 1 seed)
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// run is main without the process: it returns the exit code (2 for usage errors, 1 for failures).
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	commands := map[string]func([]string, io.Writer, io.Writer) error{
		"reproduce": cmdReproduce, "run": cmdRun, "report": cmdReport, "params": cmdParams, "backend": cmdBackend,
	}
	name, rest := args[0], args[1:]
	if name == "help" || name == "-h" || name == "-help" || name == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "morphreuse: unknown command %q\n\n%s", name, usage)
		return 2
	}
	err := cmd(rest, stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "morphreuse %s: %s\n(see \"morphreuse %s -h\")\n", name, ue.msg, name)
		return 2
	default:
		fmt.Fprintf(stderr, "morphreuse %s: %v\n", name, err)
		return 1
	}
}

// newFlags is a command's flag set; parse errors become usage errors.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: morphreuse %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// runFlags are the flags shared by run and reproduce.
type runFlags struct {
	seeds                 string
	epochs                int
	data, out             string
	limitTrain, limitTest int
	quick                 bool
}

func (f *runFlags) register(fs *flag.FlagSet, defaultSeeds string) {
	fs.StringVar(&f.seeds, "seeds", defaultSeeds, "comma-separated seeds")
	fs.IntVar(&f.epochs, "epochs", 0, "epochs (0: the protocol's: 5 MNIST/FashionMNIST, 10 CIFAR-10)")
	fs.StringVar(&f.data, "data", "", "data directory (default $MORPHREUSE_DATA, else ~/.cache/morphreuse/data)")
	fs.StringVar(&f.out, "out", filepath.Join("results", "runs"), "directory for the run records")
	fs.IntVar(&f.limitTrain, "limit-train", 0, "use only the first N training examples (0: all)")
	fs.IntVar(&f.limitTest, "limit-test", 0, "evaluate on the first N test examples (0: all)")
	fs.BoolVar(&f.quick, "quick", experiments.Quick(), "smoke run: 512 training examples, 256 test, 1 epoch, seed 0 ($"+experiments.QuickEnv+")")
}

// config validates the flags for one run.
func (f *runFlags) config(dataset string, method experiments.Method, seed int) (experiments.RunConfig, error) {
	cfg, err := experiments.NewRunConfig(dataset, method, seed, f.quick)
	if err != nil {
		return cfg, usageError{err.Error()}
	}
	cfg.DataDir = f.data
	if f.epochs != 0 {
		cfg.Epochs = f.epochs
	}
	if f.limitTrain != 0 {
		cfg.LimitTrain = f.limitTrain
	}
	if f.limitTest != 0 {
		cfg.LimitTest = f.limitTest
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err.Error()}
	}
	return cfg, nil
}

func parseSeeds(s string) ([]int, error) {
	var seeds []int
	for _, part := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || k < 0 {
			return nil, usagef("--seeds %q: want comma-separated non-negative integers, e.g. 0,1,2", s)
		}
		if slices.Contains(seeds, k) {
			return nil, usagef("--seeds %q: seed %d given twice", s, k)
		}
		seeds = append(seeds, k)
	}
	return seeds, nil
}

func parseList[T ~string](flagName, s string, valid []T) ([]T, error) {
	var out []T
	for _, part := range strings.Split(s, ",") {
		v := T(strings.TrimSpace(part))
		if !slices.Contains(valid, v) {
			return nil, usagef("--%s: unknown value %q (want one of %v)", flagName, v, valid)
		}
		out = append(out, v)
	}
	return out, nil
}

func datasetNames() []string {
	var names []string
	for _, t := range experiments.Tasks {
		names = append(names, t.Dataset)
	}
	return names
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "--dataset NAME --method NAME [flags]", stderr)
	var f runFlags
	f.register(fs, "0")
	dataset := fs.String("dataset", "", "data set: "+strings.Join(datasetNames(), ", "))
	method := fs.String("method", "", fmt.Sprint("method: ", experiments.Methods))
	force := fs.Bool("force", false, "run again even when a complete record exists")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dataset == "" || *method == "" {
		return usagef("--dataset and --method are required")
	}
	seeds, err := parseSeeds(f.seeds)
	if err != nil {
		return err
	}
	var cfgs []experiments.RunConfig
	for _, seed := range seeds {
		cfg, err := f.config(*dataset, experiments.Method(*method), seed)
		if err != nil {
			return err
		}
		cfgs = append(cfgs, cfg)
	}
	return runAll(cfgs, f.out, *force, stdout, stderr)
}

// runAll runs each configuration whose complete record is not yet in out,
// loading each data set once. It goes on after a failed run and reports every failure.
func runAll(cfgs []experiments.RunConfig, out string, force bool, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("records directory: %w", err)
	}
	if _, err := backend.Default(); err != nil {
		return err
	}
	hooks := experiments.Console(stderr)
	loaded := map[string]*experiments.ImageData{}
	var failures []error
	for _, cfg := range cfgs {
		path := filepath.Join(out, cfg.FileName())
		if !force {
			if rec, err := results.Load(path); err == nil && results.Verify(rec) == nil {
				fmt.Fprintf(stdout, "%s: done already (%s), skipped\n", cfg.Name(), path)
				continue
			}
		}
		key := fmt.Sprintf("%s/%d/%d/%s", cfg.Dataset, cfg.LimitTrain, cfg.LimitTest, cfg.DataDir)
		data := loaded[key]
		if data == nil {
			var err error
			if data, err = experiments.LoadImages(cfg.DataDir, cfg.Dataset, cfg.LimitTrain, cfg.LimitTest); err != nil {
				return err
			}
			loaded = map[string]*experiments.ImageData{key: data} // keep one data set in memory
		}
		cfg.CheckpointDir = filepath.Join(out, ".checkpoints", strings.TrimSuffix(cfg.FileName(), ".json"))
		rec, err := experiments.Run(cfg, data, hooks)
		if rec != nil {
			if werr := results.Write(out, rec); werr != nil {
				return errors.Join(err, fmt.Errorf("writing the record of %s: %w", cfg.Name(), werr))
			}
		}
		if err == nil {
			// The record is safely written: the checkpoints have served.
			os.RemoveAll(cfg.CheckpointDir)
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: FAILED: %v\n", cfg.Name(), err)
			failures = append(failures, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: test accuracy %.2f%% (%s) → %s\n", cfg.Name(), 100**rec.FinalTestAccuracy,
			fmt.Sprintf("%d/%d trainable", rec.TrainableParams, rec.TotalParams), path)
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d runs failed: %w", len(failures), len(cfgs), errors.Join(failures...))
	}
	return nil
}

func cmdReproduce(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reproduce", "[flags]", stderr)
	var f runFlags
	f.register(fs, "0,1,2")
	datasetsFlag := fs.String("datasets", strings.Join(datasetNames(), ","), "comma-separated data sets")
	methodsFlag := fs.String("methods", joinMethods(experiments.Methods), "comma-separated methods")
	reportPath := fs.String("report", filepath.Join("results", "report.html"), "HTML report written at the end")
	readmePath := fs.String("readme", filepath.Join("results", "README.md"), "Markdown tables written at the end")
	if err := parse(fs, args); err != nil {
		return err
	}
	names, err := parseList("datasets", *datasetsFlag, datasetNames())
	if err != nil {
		return err
	}
	methods, err := parseList("methods", *methodsFlag, experiments.Methods)
	if err != nil {
		return err
	}
	seeds, err := parseSeeds(f.seeds)
	if err != nil {
		return err
	}
	if f.quick {
		seeds = seeds[:1]
	}
	var cfgs []experiments.RunConfig
	for _, d := range names {
		for _, m := range methods {
			for _, s := range seeds {
				cfg, err := f.config(d, m, s)
				if err != nil {
					return err
				}
				cfgs = append(cfgs, cfg)
			}
		}
	}
	runErr := runAll(cfgs, f.out, false, stdout, stderr)
	if err := writeReports(f.out, *reportPath, *readmePath, stdout); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

func joinMethods(ms []experiments.Method) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ",")
}

func cmdReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", "[--in DIR] [--out FILE] [--readme FILE]", stderr)
	in := fs.String("in", filepath.Join("results", "runs"), "directory of run records")
	out := fs.String("out", filepath.Join("results", "report.html"), "HTML report to write")
	readme := fs.String("readme", filepath.Join("results", "README.md"), "Markdown tables to write (empty: none)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return writeReports(*in, *out, *readme, stdout)
}

func writeReports(in, reportPath, readmePath string, stdout io.Writer) error {
	records, err := results.LoadDir(in)
	if err != nil {
		return err
	}
	if len(records) == 0 {
		return fmt.Errorf("no run records in %s", in)
	}
	opts := results.ReportOptions{Reference: &results.PyTorchReference}
	if err := results.WriteReport(reportPath, records, opts); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s (%d runs)\n", reportPath, len(records))
	if readmePath != "" {
		if err := results.WriteREADME(readmePath, records, opts); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "tables: %s\n", readmePath)
	}
	return nil
}

func cmdParams(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("params", "--dataset NAME --method NAME", stderr)
	dataset := fs.String("dataset", "", "data set: "+strings.Join(datasetNames(), ", "))
	method := fs.String("method", "", fmt.Sprint("method: ", experiments.Methods))
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := experiments.Parameters(*dataset, experiments.Method(*method))
	if err != nil {
		return usageError{err.Error()}
	}
	fmt.Fprintf(stdout, "%s/%s: %s\n", *dataset, *method, p)
	return nil
}

func cmdBackend(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backend", "", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := backend.Choose()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, c)
	return nil
}
