package tinybert

import (
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/gradfix"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
)

// BenchmarkForward runs the encoder and head (eval mode) of a
// TinyBERT_General_4L_312D-shaped model (random weights) on a batch of 32 sequences
// of length 64: ms/batch, examples/s, and GFLOP/s of its matrix products (counted by
// gradfix.MatmulOps from the graph's shapes: 2·m·n·k each). "frozen" is the part the
// cached variants compute once per example: embeddings and the 2 bottom layers.
//
//	go test ./tinybert -run XXX -bench Forward -benchtime 5x
func BenchmarkForward(b *testing.B) {
	const batch, length = 32, 64
	cfg := TinyBERTGeneral4L312D()
	m, err := NewModel(cfg, Baseline)
	if err != nil {
		b.Fatal(err)
	}
	ctx := setupModel(b, m, tinyBERTWeights(), 0)
	rng := rand.New(rand.NewPCG(3, 4))
	ids, mask := make([]int32, batch*length), make([]int32, batch*length)
	for i := range batch {
		n := 8 + rng.IntN(length-8)
		for j := range n {
			ids[i*length+j], mask[i*length+j] = int32(1000+rng.IntN(20000)), 1
		}
	}
	idsT, maskT := tensors.FromFlatDataAndDimensions(ids, batch, length), tensors.FromFlatDataAndDimensions(mask, batch, length)
	typesT := tensors.FromFlatDataAndDimensions(make([]int32, batch*length), batch, length)
	for _, part := range []string{"full", "frozen"} {
		b.Run(part, func(b *testing.B) {
			var flops int64
			exec := context.MustNewExec(testBackend(b), ctx, func(ctx *context.Context, ids, mask, types *Node) *Node {
				out := m.Logits(ctx, ids, mask, types)
				if part == "frozen" {
					out = m.Frozen(ctx, ids, mask, types)
				}
				ops, err := gradfix.MatmulOps(out)
				if err != nil {
					panic(err)
				}
				flops = gradfix.TotalFLOPs(ops)
				return out
			})
			defer exec.Finalize()
			exec.MustExec(idsT, maskT, typesT)[0].FinalizeAll()
			cpu0 := cpuSeconds()
			b.ResetTimer()
			for range b.N {
				exec.MustExec(idsT, maskT, typesT)[0].FinalizeAll()
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec*1e3, "ms/batch")
			b.ReportMetric((cpuSeconds()-cpu0)*1e3/float64(b.N), "cpu-ms/batch")
			b.ReportMetric(batch/sec, "examples/s")
			b.ReportMetric(float64(flops)/1e9, "GFLOP/batch")
			b.ReportMetric(float64(flops)/sec/1e9, "GFLOP/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// cpuSeconds is the process's user+system CPU time: on a shared machine it says what a
// batch costs better than wall time does.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
