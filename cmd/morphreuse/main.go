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
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/morphreuse/morphreuse-go/experiments"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/results"
	"github.com/morphreuse/morphreuse-go/tinybert"
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
  morphreuse run --dataset sst2 --method morph --backbone DIR --cache --buckets 16,32,64
  morphreuse params --dataset sst2 --method lora     # TinyBERT's shape, no file needed

Environment:
  GOMLX_BACKEND     force a backend: "go" (simplego, pure Go) or "xla:cpu"
  MORPHREUSE_DATA   data directory (default ~/.cache/morphreuse/data)
  MORPHREUSE_QUICK  1: shrink every run (512 training examples, 1 epoch, 1 seed)
`

func main() {
	// The data sets stay in memory for the whole run (CIFAR-10: 0.7 GB), so
	// Go's default GOGC=100 lets garbage grow to as much again: measured on a
	// CIFAR-10 run, a peak RSS of 2.6 GB instead of 1.5 GB. Collecting at 20%
	// growth costs little (the big buffers hold no pointers to scan).
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(20)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

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
	// SST-2 only.
	backbone, buckets string
	cache             bool
}

func (f *runFlags) register(fs *flag.FlagSet, defaultSeeds string) {
	fs.StringVar(&f.seeds, "seeds", defaultSeeds, "comma-separated seeds")
	fs.IntVar(&f.epochs, "epochs", 0, "epochs (default: the protocol's: 5 MNIST/FashionMNIST, 10 CIFAR-10, 3 SST-2)")
	fs.StringVar(&f.data, "data", "", "data directory (default $MORPHREUSE_DATA, else ~/.cache/morphreuse/data)")
	fs.StringVar(&f.out, "out", filepath.Join("results", "runs"), "directory for the run records")
	fs.IntVar(&f.limitTrain, "limit-train", 0, "use only the first N training examples (0: all)")
	fs.IntVar(&f.limitTest, "limit-test", 0, "evaluate on the first N test examples (SST-2: dev and test) (0: all)")
	fs.BoolVar(&f.quick, "quick", experiments.Quick(), "smoke run: 512 training examples, 256 test, 1 epoch, seed 0 ($"+experiments.QuickEnv+")")
	fs.StringVar(&f.backbone, "backbone", "", "SST-2: backbone directory (config.json, vocab.txt, model.safetensors or pytorch_model.bin;\n"+
		"default: "+tinybert.TinyBERTGeneral4L312DRepo+" from the Hugging Face cache, downloaded when missing;\n"+
		"tinybert/testdata/bert-tiny is the test fixture)")
	fs.BoolVar(&f.cache, "cache", false, "SST-2: compute the frozen layers' outputs once per split (same result, faster)")
	fs.StringVar(&f.buckets, "buckets", "", "SST-2: padded lengths, e.g. 16,32,64: batches are drawn within a length (same result within noise, faster)")
}

// sst2Config validates the flags for one SST-2 run.
func (f *runFlags) sst2Config(method experiments.Method, seed int) (experiments.SST2Config, error) {
	if _, err := experiments.ResolveBackbone(f.backbone); err != nil {
		return experiments.SST2Config{}, err // not a usage error: the backbone cannot be had here
	}
	cfg, err := experiments.NewSST2Config(method, seed, f.backbone, f.quick)
	if err != nil {
		return cfg, usageError{err.Error()}
	}
	cfg.Cache = f.cache
	if cfg.Buckets, err = experiments.ParseLengths(f.buckets); err != nil {
		return cfg, usageError{err.Error()}
	}
	f.override(&cfg.DataDir, &cfg.Epochs, &cfg.LimitTrain, &cfg.LimitTest)
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err.Error()}
	}
	return cfg, nil
}

// checkGiven refuses flags given explicitly with a value that means "not
// given" (0), so that --epochs 0 is an error rather than the protocol's epochs.
func (f *runFlags) checkGiven(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "epochs" && f.epochs <= 0 && err == nil {
			err = usagef("--epochs %d: want a positive number of epochs (leave the flag out for the protocol's)", f.epochs)
		}
	})
	return err
}

// override sets the fields every data set's configuration has from the
// flags that were given (0 means "the protocol's").
func (f *runFlags) override(dataDir *string, epochs, limitTrain, limitTest *int) {
	*dataDir = f.data
	for _, o := range []struct {
		flag  int
		field *int
	}{{f.epochs, epochs}, {f.limitTrain, limitTrain}, {f.limitTest, limitTest}} {
		if o.flag != 0 {
			*o.field = o.flag
		}
	}
}

// config validates the flags for one run.
func (f *runFlags) config(dataset string, method experiments.Method, seed int) (experiments.RunConfig, error) {
	cfg, err := experiments.NewRunConfig(dataset, method, seed, f.quick)
	if err != nil {
		return cfg, usageError{err.Error()}
	}
	f.override(&cfg.DataDir, &cfg.Epochs, &cfg.LimitTrain, &cfg.LimitTest)
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

// allDatasetNames are the image data sets and SST-2.
func allDatasetNames() []string { return append(datasetNames(), experiments.SST2) }

// allMethods are the image methods and SST-2's.
func allMethods() []experiments.Method {
	ms := slices.Clone(experiments.Methods)
	for _, m := range experiments.SST2Methods {
		if !slices.Contains(ms, m) {
			ms = append(ms, m)
		}
	}
	return ms
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "--dataset NAME --method NAME [flags]", stderr)
	var f runFlags
	f.register(fs, "0")
	dataset := fs.String("dataset", "", "data set: "+strings.Join(allDatasetNames(), ", "))
	method := fs.String("method", "", fmt.Sprint("method: ", experiments.Methods, "; sst2: ", experiments.SST2Methods))
	force := fs.Bool("force", false, "run again even when a complete record exists")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.checkGiven(fs); err != nil {
		return err
	}
	if *dataset == "" || *method == "" {
		return usagef("--dataset and --method are required")
	}
	seeds, err := parseSeeds(f.seeds)
	if err != nil {
		return err
	}
	var jobs []experiments.Job
	for _, seed := range seeds {
		job, err := f.job(*dataset, experiments.Method(*method), seed)
		if err != nil {
			return err
		}
		jobs = append(jobs, job)
	}
	return runJobs(jobs, f.out, *force, stdout, stderr)
}

// methodsOf lists a data set's methods.
func methodsOf(dataset string) []experiments.Method {
	if dataset == experiments.SST2 {
		return experiments.SST2Methods
	}
	return experiments.Methods
}

// job validates the flags for one run of any data set.
func (f *runFlags) job(dataset string, method experiments.Method, seed int) (experiments.Job, error) {
	if dataset == experiments.SST2 {
		return f.sst2Config(method, seed)
	}
	return f.config(dataset, method, seed)
}

// runJobs runs the jobs through experiments.RunAll with console progress.
func runJobs(jobs []experiments.Job, out string, force bool, stdout, stderr io.Writer) error {
	_, err := experiments.RunAll(jobs, out, experiments.RunAllOptions{
		Force: force, Hooks: experiments.Console(stderr), Stdout: stdout, Stderr: stderr})
	return err
}

func cmdReproduce(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reproduce", "[flags]", stderr)
	var f runFlags
	f.register(fs, "0,1,2")
	datasetsFlag := fs.String("datasets", strings.Join(allDatasetNames(), ","), "comma-separated data sets")
	methodsFlag := fs.String("methods", "", "comma-separated methods (default: each data set's, "+joinMethods(experiments.Methods)+
		"; sst2: "+joinMethods(experiments.SST2Methods)+")")
	reportPath := fs.String("report", filepath.Join("results", "report.html"), "HTML report written at the end")
	readmePath := fs.String("readme", filepath.Join("results", "README.md"), "Markdown tables written at the end")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.checkGiven(fs); err != nil {
		return err
	}
	names, err := parseList("datasets", *datasetsFlag, allDatasetNames())
	if err != nil {
		return err
	}
	methods := allMethods()
	if *methodsFlag != "" {
		if methods, err = parseList("methods", *methodsFlag, allMethods()); err != nil {
			return err
		}
	}
	seeds, err := parseSeeds(f.seeds)
	if err != nil {
		return err
	}
	if f.quick {
		seeds = seeds[:1]
	}
	var jobs []experiments.Job
	var unavailable error
	for _, d := range names {
		if d == experiments.SST2 {
			// Without a backbone (offline, no --backbone) SST-2 cannot run:
			// say so, run the rest, and fail at the end.
			if _, err := experiments.ResolveBackbone(f.backbone); err != nil {
				unavailable = fmt.Errorf("sst2 not run: %w", err)
				fmt.Fprintf(stderr, "morphreuse reproduce: %v\n", unavailable)
				continue
			}
		}
		for _, m := range methods {
			if !slices.Contains(methodsOf(d), m) {
				continue
			}
			for _, s := range seeds {
				job, err := f.job(d, m, s)
				if err != nil {
					return err
				}
				jobs = append(jobs, job)
			}
		}
	}
	if len(jobs) == 0 {
		if unavailable != nil {
			return unavailable
		}
		return usagef("--methods %q: no method of the data sets %v", *methodsFlag, names)
	}
	runErr := errors.Join(runJobs(jobs, f.out, false, stdout, stderr), unavailable)
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
	fs := newFlags("params", "--dataset NAME --method NAME [--backbone DIR]", stderr)
	dataset := fs.String("dataset", "", "data set: "+strings.Join(allDatasetNames(), ", "))
	method := fs.String("method", "", fmt.Sprint("method: ", experiments.Methods, "; sst2: ", experiments.SST2Methods))
	backboneDir := fs.String("backbone", "", "sst2: backbone directory (default: "+tinybert.TinyBERTGeneral4L312DRepo+"'s configuration, random weights)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dataset == experiments.SST2 {
		p, err := experiments.SST2Parameters(experiments.Method(*method), *backboneDir)
		if err != nil {
			return usageError{err.Error()}
		}
		fmt.Fprintf(stdout, "%s/%s: %s\n", *dataset, *method, p)
		return nil
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
