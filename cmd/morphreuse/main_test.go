package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/morphreuse/morphreuse-go/results"
)

// writeIDX writes a gzipped IDX file of unsigned bytes with the given dims.
func writeIDX(t *testing.T, path string, data []byte, dims ...int) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	header := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		header = binary.BigEndian.AppendUint32(header, uint32(d))
	}
	zw.Write(header)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// syntheticMNIST lays out a tiny MNIST in the official layout: 300 training
// and 100 test images whose label is written into their pixels, so a model
// can learn it.
func syntheticMNIST(t *testing.T) string {
	t.Helper()
	return syntheticMNISTSized(t, 300, 100)
}

func syntheticMNISTSized(t *testing.T, nTrain, nTest int) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "mnist")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, split := range []struct {
		prefix string
		n      int
	}{{"train", nTrain}, {"t10k", nTest}} {
		pixels := make([]byte, split.n*28*28)
		labels := make([]byte, split.n)
		for i := range labels {
			labels[i] = byte(rng.IntN(10))
			img := pixels[i*784 : (i+1)*784]
			for j := range img {
				img[j] = byte(rng.IntN(64))
			}
			for j := range 28 { // a bright row whose position is the label
				img[int(labels[i])*2*28+j] = 255
			}
		}
		writeIDX(t, filepath.Join(root, split.prefix+"-images-idx3-ubyte.gz"), pixels, split.n, 28, 28)
		writeIDX(t, filepath.Join(root, split.prefix+"-labels-idx1-ubyte.gz"), labels, split.n)
	}
	return dir
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errs bytes.Buffer
	code = run(args, &out, &errs)
	return code, out.String(), errs.String()
}

func TestRunWritesValidRecords(t *testing.T) {
	data, out := syntheticMNIST(t), t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "--dataset", "mnist", "--method", "morph-frozen", "--seeds", "0,1",
		"--epochs", "2", "--data", data, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, seed := range []int{0, 1} {
		rec, err := results.Load(filepath.Join(out, results.FileName("mnist", "morph-frozen", "", seed)))
		if err != nil {
			t.Fatal(err)
		}
		if err := results.Verify(rec); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if len(rec.Epochs) != 2 || rec.TrainableParams != 83009 || rec.TotalParams != 315713 || rec.Learned == nil {
			t.Fatalf("seed %d: unexpected record %+v", seed, rec)
		}
		if rec.Compiles != 2 {
			t.Errorf("seed %d: %d graphs compiled, want 2 (one training, one evaluation)", seed, rec.Compiles)
		}
	}
}

func TestReproduceSkipsFinishedRunsAndReports(t *testing.T) {
	data, out := syntheticMNIST(t), t.TempDir()
	report, readme := filepath.Join(out, "report.html"), filepath.Join(out, "README.md")
	args := []string{"reproduce", "--datasets", "mnist", "--methods", "baseline,lora", "--seeds", "0",
		"--epochs", "1", "--data", data, "--out", filepath.Join(out, "runs"), "--report", report, "--readme", readme}
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	first, err := os.ReadFile(filepath.Join(out, "runs", "mnist_lora_seed0.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runCLI(t, args...)
	if code != 0 || strings.Count(stdout, "skipped") != 2 {
		t.Fatalf("second reproduce: exit %d, want both runs skipped:\n%s", code, stdout)
	}
	again, _ := os.ReadFile(filepath.Join(out, "runs", "mnist_lora_seed0.json"))
	if !bytes.Equal(first, again) {
		t.Fatal("a finished record was rewritten")
	}
	html, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"baseline", "lora", "MNIST"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report lacks %q", want)
		}
	}

	// The report renders from the records alone.
	os.Remove(report)
	if code, _, stderr := runCLI(t, "report", "--in", filepath.Join(out, "runs"), "--out", report, "--readme", ""); code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(report); err != nil {
		t.Fatal(err)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nonsense"},
		{"run", "--bogus"},
		{"run", "--dataset", "mnist"},
		{"run", "--dataset", "imagenet", "--method", "lora"},
		{"run", "--dataset", "mnist", "--method", "adapters"},
		{"run", "--dataset", "mnist", "--method", "lora", "--seeds", "0,,1"},
		{"run", "--dataset", "mnist", "--method", "lora", "--seeds", "1,1"},
		{"run", "--dataset", "mnist", "--method", "lora", "--epochs", "-3"},
		{"run", "--dataset", "mnist", "--method", "lora", "--epochs", "0"},
		{"reproduce", "--epochs", "0"},
		{"reproduce", "--datasets", "mnist,svhn"},
		{"params", "--dataset", "mnist", "--method", "nope"},
		{"report", "extra-argument"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != 2 || stderr == "" {
			t.Errorf("%q: exit %d (want 2) with message %q", args, code, stderr)
		}
	}
}

func TestParamsLine(t *testing.T) {
	code, stdout, _ := runCLI(t, "params", "--dataset", "mnist", "--method", "lora")
	want := "trainable params: 7,272 || all params: 414,322 || trainable%: 1.7552"
	if code != 0 || !strings.Contains(stdout, want) {
		t.Fatalf("exit %d, output %q, want %q", code, stdout, want)
	}
}

// subprocessEnv makes the test binary act as the morphreuse command (see TestMain).
const subprocessEnv = "MORPHREUSE_CLI_SUBPROCESS"

func TestMain(m *testing.M) {
	if os.Getenv(subprocessEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestKilledRunResumesToTheSameRecord starts a run as a separate process,
// kills it with SIGKILL in the middle of its second epoch, starts it again
// with the same arguments, and compares the record with that of a run that
// was never interrupted.
func TestKilledRunResumesToTheSameRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	data := syntheticMNISTSized(t, 1280, 256)
	args := func(out string) []string {
		return []string{"run", "--dataset", "mnist", "--method", "morph-trained", "--epochs", "2", "--data", data, "--out", out}
	}
	command := func(out string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], args(out)...)
		cmd.Env = append(os.Environ(), subprocessEnv+"=1", "MORPHREUSE_QUICK=0")
		return cmd
	}

	// The reference: one uninterrupted run.
	refOut := t.TempDir()
	if out, err := command(refOut).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}

	// The same run, killed mid-epoch 2.
	out := t.TempDir()
	cmd := command(out)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	scanner := bufio.NewScanner(stderr)
	for scanner.Scan() {
		if strings.Contains(scanner.Text(), "epoch 2/2 step 4/10") {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
			break
		}
	}
	io.Copy(io.Discard, stderr)
	cmd.Wait()
	if !killed {
		t.Fatal("the run ended before it could be killed mid-epoch 2")
	}
	recordName := results.FileName("mnist", "morph-trained", "", 0)
	if _, err := os.Stat(filepath.Join(out, recordName)); err == nil {
		t.Fatal("a killed run left a record")
	}

	// Started again: it resumes from the end of epoch 1.
	resumed, err := command(out).CombinedOutput()
	if err != nil {
		t.Fatalf("resumed run: %v\n%s", err, resumed)
	}
	if !strings.Contains(string(resumed), "resuming after epoch 1") {
		t.Fatalf("the second start did not resume:\n%s", resumed)
	}
	want, err := results.Load(filepath.Join(refOut, recordName))
	if err != nil {
		t.Fatal(err)
	}
	got, err := results.Load(filepath.Join(out, recordName))
	if err != nil {
		t.Fatal(err)
	}
	for i := range want.Epochs {
		w, g := want.Epochs[i], got.Epochs[i]
		if w.TrainLoss != g.TrainLoss || *w.TestAccuracy != *g.TestAccuracy {
			t.Errorf("epoch %d: uninterrupted loss %v accuracy %v, resumed loss %v accuracy %v",
				w.Epoch, w.TrainLoss, *w.TestAccuracy, g.TrainLoss, *g.TestAccuracy)
		}
	}
	if *want.FinalTestAccuracy != *got.FinalTestAccuracy || *want.Learned.Alpha != *got.Learned.Alpha {
		t.Errorf("final accuracy %v vs %v, alpha %v vs %v", *want.FinalTestAccuracy, *got.FinalTestAccuracy,
			*want.Learned.Alpha, *got.Learned.Alpha)
	}
	if _, err := os.Stat(filepath.Join(out, ".checkpoints")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(out, ".checkpoints"))
		if len(entries) > 0 {
			t.Errorf("checkpoints left after the run completed: %v", entries)
		}
	}
}
