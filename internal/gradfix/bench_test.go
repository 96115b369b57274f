package gradfix

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// The benchmarks time one training step (forward, backward, Adam) of the
// three model shapes this project trains, with the fixed gradients and with
// GoMLX's stock ones, and report GFLOP/s.
//
// FLOPs count matrix products only (2·m·n·k each), from the shapes: the
// forward pass once, the backward pass twice (input and weight gradients)
// except the input gradient of a layer whose input is data, which autodiff
// skips. Element-wise ops, softmax and the optimizer are not counted.
//
//	go test ./internal/gradfix -run XXX -bench TrainStep -benchtime 5x

type stepBench struct {
	name   string
	inputs func(rng *rand.Rand) (inputs, labels []*tensors.Tensor)
	model  train.ModelFn
	loss   train.LossFn
	flops  float64
}

func f32(rng *rand.Rand, scale float64, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64() * scale)
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

func classes(rng *rand.Rand, n int) *tensors.Tensor {
	data := make([]int32, n)
	for i := range data {
		data[i] = int32(rng.IntN(10))
	}
	return tensors.FromFlatDataAndDimensions(data, n, 1)
}

// dense is x·W+b over the last axis, with x flattened to rank 2 (graph.Dot).
func dense(ctx *context.Context, name string, x *Node, out int) *Node {
	ctx = ctx.In(name)
	in := x.Shape().Dimensions[x.Rank()-1]
	w := ctx.VariableWithShape("w", shapes.Make(x.DType(), in, out)).ValueGraph(x.Graph())
	b := ctx.VariableWithShape("b", shapes.Make(x.DType(), out)).ValueGraph(x.Graph())
	dims := append([]int(nil), x.Shape().Dimensions...)
	dims[len(dims)-1] = out
	y := Dot(Reshape(x, -1, in), w)
	return Reshape(Add(y, ExpandLeftToRank(b, 2)), dims...)
}

func mlpBench() stepBench {
	const b, in, hid, out = 128, 784, 512, 10
	return stepBench{
		name: "mlp",
		inputs: func(rng *rand.Rand) ([]*tensors.Tensor, []*tensors.Tensor) {
			return []*tensors.Tensor{f32(rng, 1, b, in)}, []*tensors.Tensor{classes(rng, b)}
		},
		model: func(ctx *context.Context, _ any, x []*Node) []*Node {
			h := activations.Relu(dense(ctx, "l1", x[0], hid))
			return []*Node{dense(ctx, "l2", h, out)}
		},
		loss:  losses.SparseCategoricalCrossEntropyLogits,
		flops: 2*2*b*in*hid + 3*2*b*hid*out,
	}
}

func cnnBench() stepBench {
	const b = 128
	convFlops := func(hw, cin, cout int) float64 { return 2 * float64(b*hw*hw*9*cin*cout) }
	c1, c2, c3 := convFlops(32, 3, 32), convFlops(16, 32, 64), convFlops(8, 64, 128)
	f1, f2 := 2*float64(b*2048*256), 2*float64(b*256*10)
	return stepBench{
		name: "cnn",
		inputs: func(rng *rand.Rand) ([]*tensors.Tensor, []*tensors.Tensor) {
			return []*tensors.Tensor{f32(rng, 1, b, 32, 32, 3)}, []*tensors.Tensor{classes(rng, b)}
		},
		model: func(ctx *context.Context, _ any, x []*Node) []*Node {
			h := x[0]
			for i, ch := range []int{32, 64, 128} {
				cin := h.Shape().Dimensions[3]
				k := ctx.Inf("conv%d", i).VariableWithShape("k", shapes.Make(h.DType(), 3, 3, cin, ch)).ValueGraph(h.Graph())
				h = MaxPool2x2(activations.Relu(Conv2D(h, k)))
			}
			h = Reshape(h, b, -1)
			h = activations.Relu(dense(ctx, "fc1", h, 256))
			return []*Node{dense(ctx, "fc2", h, 10)}
		},
		loss:  losses.SparseCategoricalCrossEntropyLogits,
		flops: 2*c1 + 3*(c2+c3+f1+f2),
	}
}

func bertLayerBench() stepBench {
	const b, s, h, heads, inter = 32, 64, 312, 12, 1200
	d := h / heads
	bsh := float64(b * s * h)
	proj := 2 * bsh * h              // one h×h projection
	attn := 2 * 2 * float64(b*s*s*h) // scores and weighted values
	ffn := 2 * 2 * bsh * inter
	return stepBench{
		name: "bert_layer",
		inputs: func(rng *rand.Rand) ([]*tensors.Tensor, []*tensors.Tensor) {
			return []*tensors.Tensor{f32(rng, 1, b, s, h)}, []*tensors.Tensor{f32(rng, 1, b, s, h)}
		},
		model: func(ctx *context.Context, _ any, in []*Node) []*Node {
			x := StopGradient(in[0])
			split := func(t *Node) *Node { return Reshape(t, b, s, heads, d) }
			q, k, v := split(dense(ctx, "q", x, h)), split(dense(ctx, "k", x, h)), split(dense(ctx, "v", x, h))
			scores := MulScalar(Einsum("bqhd,bkhd->bhqk", q, k), 1/math.Sqrt(float64(d)))
			ctxv := Reshape(Einsum("bhqk,bkhd->bqhd", Softmax(scores, -1), v), b, s, h)
			a := layers.LayerNormalization(ctx.In("ln1"), Add(x, dense(ctx, "o", ctxv, h)), -1).Epsilon(1e-12).Done()
			f := dense(ctx, "ffn_out", activations.Gelu(dense(ctx, "ffn_in", a, inter)), h)
			return []*Node{layers.LayerNormalization(ctx.In("ln2"), Add(a, f), -1).Epsilon(1e-12).Done()}
		},
		loss:  losses.MeanSquaredError,
		flops: 3*2*proj + 3*(proj+attn+ffn), // q,k,v read data: forward + weight gradient only
	}
}

func runStepBench(bm *testing.B, sb stepBench) {
	backend := testBackend(bm)
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.New()
	ctx = ctx.WithInitializer(initializers.RandomNormalFn(ctx, 0.05))
	trainer := train.NewTrainer(backend, ctx, sb.model, sb.loss, optimizers.Adam().LearningRate(1e-3).Done(), nil, nil)
	inputs, labels := sb.inputs(rng)
	step := func() {
		if _, err := trainer.TrainStep(nil, inputs, labels); err != nil {
			bm.Fatal(err)
		}
	}
	step() // compile
	bm.ResetTimer()
	for range bm.N {
		step()
	}
	sec := bm.Elapsed().Seconds() / float64(bm.N)
	bm.ReportMetric(sec*1e3, "ms/step")
	bm.ReportMetric(sb.flops/sec/1e9, "GFLOP/s")
	bm.ReportMetric(0, "ns/op")
}

func BenchmarkTrainStep(b *testing.B) {
	for _, sb := range []stepBench{mlpBench(), cnnBench(), bertLayerBench()} {
		b.Run(sb.name, func(b *testing.B) { runStepBench(b, sb) })
		b.Run(sb.name+"/stock", func(b *testing.B) {
			// The stock Slice gradient needs Pad, which simplego lacks: keep
			// that fix so the CNN runs at all, and measure the Dot ones.
			restore := UseStock(NodeTypeDot, NodeTypeDotGeneral)
			defer restore()
			runStepBench(b, sb)
		})
	}
	if n := Fallbacks(); n != 0 {
		b.Fatalf("%d gradients fell back to the stock definition", n)
	}
}
