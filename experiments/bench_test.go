package experiments

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/internal/gradfix"
	"github.com/morphreuse/morphreuse-go/tinybert"
)

// Benchmarks of the experiments' steps, at the protocol's batch size:
//
//	go test ./experiments -run XXX -bench 'Step|Kernel' -benchtime 10x
//
// Each step reports ms/step, examples/s and GFLOP/s, where FLOPs are those
// of the matrix products the step's graph actually computes (2·m·n·k each,
// counted from the shapes in the compiled graph: a frozen weight's gradient
// product is not built, so it is not counted); element-wise work, softmax and
// the optimizer are not counted. "efficiency" is the step's kernel ceiling —
// the time its matrix products take when each is run alone on the same
// backend — divided by the step's time: 100% would mean nothing but the
// matrix products costs anything. Both times are process CPU time (user +
// system), so the ratio holds on a machine shared with other work; ms/step,
// examples/s and GFLOP/s are wall-clock.

// randomData is n examples of shape dims with random labels.
func randomData(n int, dims ...int) Data {
	rng := rand.New(rand.NewPCG(5, 6))
	size := n
	for _, d := range dims {
		size *= d
	}
	x := make([]float32, size)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(rng.IntN(10))
	}
	return Data{Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, append([]int{n}, dims...)...)},
		Labels: tensors.FromFlatDataAndDimensions(y, n)}
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// kernelTime is the CPU time the products take when each runs alone: the
// ceiling of a step made of them. Identical products are timed once.
func kernelTime(tb testing.TB, b backends.Backend, ops []gradfix.MatmulOp) time.Duration {
	tb.Helper()
	counts := map[string]int{}
	first := map[string]gradfix.MatmulOp{}
	for _, op := range ops {
		counts[op.Key()]++
		if _, ok := first[op.Key()]; !ok {
			first[op.Key()] = op
		}
	}
	var total time.Duration
	for key, op := range first {
		total += time.Duration(counts[key]) * timeMatmul(tb, b, op)
	}
	return total
}

// timeMatmul is the median CPU time of one product run alone.
func timeMatmul(tb testing.TB, b backends.Backend, op gradfix.MatmulOp) time.Duration {
	tb.Helper()
	exec := MustNewExec(b, func(lhs, rhs *Node) *Node { return op.Build(lhs, rhs) })
	defer exec.Finalize()
	lhs, rhs := tensors.FromShape(op.LHS), tensors.FromShape(op.RHS)
	exec.MustExec(lhs, rhs)
	var times []time.Duration
	for range 5 {
		start := cpuTime()
		exec.MustExec(lhs, rhs)[0].FinalizeAll()
		times = append(times, cpuTime()-start)
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// stepSetup is one model ready to step: its loop, training and evaluation
// data, and batch size.
type stepSetup struct {
	name        string
	loop        *Loop
	train, eval Data
	batch       int
}

// imageSteps are the MLP and CNN of every method on random data.
func imageSteps(b *testing.B) []stepSetup {
	choice := backend.MustDefault()
	var out []stepSetup
	for _, arch := range []Arch{MLP, CNN} {
		for _, method := range Methods {
			model := NewModelConfig(arch, method)
			ctx, err := model.Setup(choice.Backend, context.New())
			if err != nil {
				b.Fatal(err)
			}
			const batch = 128
			out = append(out, stepSetup{name: fmt.Sprintf("%s/%s", arch, method), batch: batch,
				loop:  NewLoop(choice.Backend, ctx, model.Logits, optimizers.Adam().LearningRate(1e-3).Epsilon(1e-8).Done()),
				train: randomData(4*batch, model.Input...), eval: randomData(batch, model.Input...)})
		}
	}
	return out
}

// bertSteps are the SST-2 models of every method on a TinyBERT_General_4L_312D-
// shaped model (random weights), batch 32 of length 64, plain (from token ids)
// and cached (from the frozen bottom's output).
func bertSteps(b *testing.B) []stepSetup {
	const batch, length = 32, 64
	cfg := tinybert.TinyBERTGeneral4L312D()
	sd := tinybert.RandomWeights(cfg, 1)
	choice := backend.MustDefault()
	rng := rand.New(rand.NewPCG(1, 2))
	ids, mask, types, labels := make([]int32, batch*length), make([]int32, batch*length), make([]int32, batch*length), make([]int32, batch)
	for i := range batch {
		real := 2 + rng.IntN(length-1)
		for j := range real {
			ids[i*length+j], mask[i*length+j] = int32(1000+rng.IntN(20000)), 1
		}
		labels[i] = int32(rng.IntN(2))
	}
	tokens := Data{Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, batch, length),
		tensors.FromFlatDataAndDimensions(mask, batch, length), tensors.FromFlatDataAndDimensions(types, batch, length)},
		Labels: tensors.FromFlatDataAndDimensions(labels, batch)}
	split := &SST2Split{N: batch, Buckets: []*SST2Bucket{{Length: length, Tokens: tokens}}}
	var out []stepSetup
	for _, method := range SST2Methods {
		for _, cached := range []bool{false, true} {
			m, err := tinybert.NewModel(cfg, tinybert.Method(method))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.New()
			if _, err := m.Setup(choice.Backend, ctx.In(ModelScope), sd); err != nil {
				b.Fatal(err)
			}
			ctx = ctx.Reuse()
			data := tokens
			if cached {
				d, err := frozenInputs(choice.Backend, ctx, m, split)
				if err != nil {
					b.Fatal(err)
				}
				data = d[0]
			}
			adamW := optimizers.Adam().LearningRate(1e-4).WeightDecay(0.01).Epsilon(1e-8).Done()
			out = append(out, stepSetup{name: fmt.Sprintf("bert/%s/%s", method, map[bool]string{false: "plain", true: "cached"}[cached]),
				loop: NewLoop(choice.Backend, ctx, sst2Logits(m, cached), adamW), train: data, eval: data, batch: batch})
		}
	}
	return out
}

// BenchmarkStep times the training and evaluation steps of every model:
// BenchmarkStep/{mlp,cnn}/<method>/{train,eval} at batch 128 and
// BenchmarkStep/bert/<method>/{plain,cached}/{train,eval} at batch 32 × 64 tokens.
func BenchmarkStep(b *testing.B) {
	choice := backend.MustDefault()
	var setups []stepSetup
	if !strings.Contains(flagBench(), "bert") || strings.Contains(flagBench(), "mlp") || strings.Contains(flagBench(), "cnn") {
		setups = append(setups, imageSteps(b)...)
	}
	if !strings.Contains(flagBench(), "mlp") && !strings.Contains(flagBench(), "cnn") {
		setups = append(setups, bertSteps(b)...)
	}
	for _, s := range setups {
		loop, batch := s.loop, s.batch
		idx := func(i int) []int32 {
			out := make([]int32, batch)
			for j := range out {
				out[j] = int32((i*batch + j) % s.train.N())
			}
			return out
		}
		if _, err := loop.TrainStep(s.train, idx(0)); err != nil {
			b.Fatal(err)
		}
		if _, _, err := loop.Evaluate(s.eval, batch); err != nil {
			b.Fatal(err)
		}
		trainOps, evalOps, err := loop.Matmuls()
		if err != nil {
			b.Fatal(err)
		}
		report := func(b *testing.B, ops []gradfix.MatmulOp, cpu time.Duration) {
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec*1e3, "ms/step")
			b.ReportMetric(float64(batch)/sec, "examples/s")
			b.ReportMetric(float64(gradfix.TotalFLOPs(ops))/1e9, "GFLOP/step")
			b.ReportMetric(float64(gradfix.TotalFLOPs(ops))/sec/1e9, "GFLOP/s")
			ceiling := kernelTime(b, choice.Backend, ops)
			b.ReportMetric(100*ceiling.Seconds()/(cpu.Seconds()/float64(b.N)), "efficiency-%")
			b.ReportMetric(0, "ns/op")
		}
		b.Run(s.name+"/train", func(b *testing.B) {
			start := cpuTime()
			for i := range b.N {
				if _, err := loop.TrainStep(s.train, idx(i+1)); err != nil {
					b.Fatal(err)
				}
			}
			report(b, trainOps, cpuTime()-start)
		})
		b.Run(s.name+"/eval", func(b *testing.B) {
			start := cpuTime()
			for range b.N {
				if _, _, err := loop.Evaluate(s.eval, batch); err != nil {
					b.Fatal(err)
				}
			}
			report(b, evalOps, cpuTime()-start)
		})
		if loop.Compiles() != 2 {
			b.Errorf("%s: %d graphs compiled, want 2", s.name, loop.Compiles())
		}
		loop.Finalize()
	}
}

// flagBench is the -test.bench pattern: building every model takes a while,
// so BenchmarkStep builds only the families the pattern can select.
func flagBench() string {
	if f := flag.Lookup("test.bench"); f != nil {
		return f.Value.String()
	}
	return ""
}

// BenchmarkKernel times the dominant matrix products of the steps alone:
// the backend's ceiling for them.
func BenchmarkKernel(b *testing.B) {
	choice := backend.MustDefault()
	f32 := func(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
	for _, k := range []struct {
		name     string
		lhs, rhs shapes.Shape
	}{
		{"mlp_fc1_128x784x512", f32(128, 784), f32(784, 512)},
		{"cnn_conv2_im2col_32768x288x64", f32(32768, 288), f32(288, 64)},
		{"cnn_conv3_im2col_8192x576x128", f32(8192, 576), f32(576, 128)},
		{"cnn_fc1_128x2048x256", f32(128, 2048), f32(2048, 256)},
		{"bert_ffn_2048x312x1200", f32(2048, 312), f32(312, 1200)},
		{"bert_proj_2048x312x312", f32(2048, 312), f32(312, 312)},
	} {
		op := gradfix.MatmulOp{LHS: k.lhs, RHS: k.rhs, LhsContracting: []int{1}, RhsContracting: []int{0},
			FLOPs: 2 * int64(k.lhs.Dimensions[0]*k.lhs.Dimensions[1]*k.rhs.Dimensions[1])}
		b.Run(k.name, func(b *testing.B) {
			exec := MustNewExec(choice.Backend, func(lhs, rhs *Node) *Node { return op.Build(lhs, rhs) })
			defer exec.Finalize()
			lhs, rhs := tensors.FromShape(op.LHS), tensors.FromShape(op.RHS)
			exec.MustExec(lhs, rhs)
			b.ResetTimer()
			for range b.N {
				exec.MustExec(lhs, rhs)
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec*1e3, "ms/op")
			b.ReportMetric(float64(op.FLOPs)/sec/1e9, "GFLOP/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
