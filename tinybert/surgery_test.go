package tinybert

import (
	"fmt"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/gradfix"
	"github.com/morphreuse/morphreuse-go/internal/nn"
	"github.com/morphreuse/morphreuse-go/lora"
	"github.com/morphreuse/morphreuse-go/morph"
)

var tinyBERTWeights = sync.OnceValue(func() StateDict { return RandomWeights(TinyBERTGeneral4L312D(), 0) })

// TestTrainableCountsMatchSpec builds each method on the real TinyBERT configuration
// (random weights, no files) and counts its parameters with the project's counter:
// SPEC §3's trainable counts, exactly, and the expected trainable variables.
func TestTrainableCountsMatchSpec(t *testing.T) {
	cfg := TinyBERTGeneral4L312D()
	const backbone = 14_350_874 // embeddings 9,683,856 + 4 layers × 1,142,184 + pooler 97,656 + classifier 626
	perLayerLinears := int64(4*(312*312+312) + (312*1200 + 1200) + (1200*312 + 312))
	for _, c := range []struct {
		method           Method
		trainable, total int64
		isTrainable      func(rel string) bool
	}{
		{Baseline, 2_284_994, backbone, func(rel string) bool {
			return strings.HasPrefix(rel, "bert/encoder/layer_2/") || strings.HasPrefix(rel, "bert/encoder/layer_3/") || strings.HasPrefix(rel, "classifier/")
		}},
		{Morph, 848_607, backbone - 2*perLayerLinears - 626 + 848_607, func(rel string) bool {
			return strings.HasPrefix(rel, "shared/") || path.Base(rel) == morph.WrapperScaleVar
		}},
		{LoRA, 90_832, backbone + 90_832, func(rel string) bool {
			return path.Base(rel) == lora.AVar || path.Base(rel) == lora.BVar
		}},
	} {
		t.Run(string(c.method), func(t *testing.T) {
			m, err := NewModel(cfg, c.method)
			if err != nil {
				t.Fatal(err)
			}
			ctx := setupModel(t, m, tinyBERTWeights(), 0)
			p := morph.CountParameters(ctx)
			if p.Trainable != c.trainable || p.Total != c.total {
				t.Errorf("%s: %s; want %d trainable of %d", c.method, p, c.trainable, c.total)
			}
			t.Logf("%s: %s", c.method, p)
			for v := range nn.Parameters(ctx) {
				rel := nn.RelativeName(ctx.Scope(), v)
				if v.Trainable != c.isTrainable(rel) {
					t.Errorf("%s: trainable=%v", rel, v.Trainable)
				}
			}
			switch c.method {
			case Morph:
				scales, err := morph.Scales(ctx)
				if err != nil || len(scales) != 13 {
					t.Errorf("morph scales: %v, %v; want 13", scales, err)
				}
				for _, shape := range [][2]int{{312, 312}, {312, 1200}, {1200, 312}, {312, 2}} {
					if ctx.In(SharedScope).In(morph.ShapeScope(shape[0], shape[1])).GetVariable(nn.WeightsVar) == nil {
						t.Errorf("no shared weight of shape %v", shape)
					}
				}
			case LoRA:
				if w := lora.Wrapped(ctx); len(w) != 13 {
					t.Errorf("LoRA wraps %v, want 13 linears", w)
				}
			}
		})
	}
}

// trainGraph builds (without compiling) what a training step computes for m: the
// loss in training mode and the gradients of every trainable variable, from token
// inputs or, cached, from the frozen bottom's output.
func trainGraph(t *testing.T, m *Model, ctx *context.Context, cached bool, batch, length int) (g *Graph, loss *Node, roots []*Node) {
	t.Helper()
	g = NewGraph(testBackend(t), "train")
	ctx.SetTraining(g, true)
	i32 := func(name string, dims ...int) *Node { return Parameter(g, name, shapes.Make(dtypes.Int32, dims...)) }
	mask := i32("mask", batch, length)
	var logits *Node
	if cached {
		hidden := Parameter(g, "hidden", shapes.Make(dtypes.Float32, batch, length, m.Config.HiddenSize))
		logits = m.ForwardFrom(ctx, hidden, mask).Logits
	} else {
		logits = m.Logits(ctx, i32("ids", batch, length), mask, i32("types", batch, length))
	}
	labels := i32("labels", batch)
	oneHot := OneHot(labels, m.Config.NumLabels, dtypes.Float32)
	loss = ReduceAllMean(Neg(ReduceSum(Mul(oneHot, LogSoftmax(logits, -1)), -1)))
	return g, loss, append([]*Node{loss}, ctx.BuildTrainableVariablesGradientsGraph(loss)...)
}

func isMatmul(n *Node) bool { return n.Type() == NodeTypeDot || n.Type() == NodeTypeDotGeneral }

// TestFrozenPartsCostNoBackwardWork inspects the training graph of each method (plain
// and cached): a frozen weight's gradient product (x·ᵀv for y = x·W) is never
// computed while every trainable weight's is, no gradient flows through the frozen
// bottom (no product with its weights, no scatter into the embedding tables), and the
// cached graph's backward work equals the plain one's.
func TestFrozenPartsCostNoBackwardWork(t *testing.T) {
	_, p := fixture(t)
	const batch, length = 4, 16
	for _, method := range Methods {
		backwardFLOPs := map[bool]int64{}
		for _, cached := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cached=%v", method, cached), func(t *testing.T) {
				m, err := NewModel(p.Config, method)
				if err != nil {
					t.Fatal(err)
				}
				ctx := setupModel(t, m, p.Weights, 0)
				g, loss, roots := trainGraph(t, m, ctx, cached, batch, length)
				defer g.Finalize()
				weights := map[*Node]*context.Variable{} // parameter node of a rank-2 weight → its variable
				for v := range nn.Parameters(ctx) {
					if v.InUseByGraph(g) && v.Shape().Rank() == 2 && v.Name() != EmbeddingsVar {
						weights[v.ValueGraph(g)] = v
					}
				}
				nodes := gradfix.Reachable(roots)
				var forward, backward []*Node
				for _, n := range nodes {
					switch {
					case n.Type() == NodeTypeScatterSum || n.Type() == NodeTypeScatterMax || n.Type() == NodeTypeScatterMin:
						t.Errorf("a scatter (embedding gradient) is computed: %s", n)
					case !isMatmul(n):
					case n.Id() < loss.Id():
						forward = append(forward, n)
					default:
						backward = append(backward, n)
					}
				}
				operand := func(n, x *Node) bool { return n.Inputs()[0] == x || n.Inputs()[1] == x }
				flops := func(roots ...*Node) int64 {
					ops, err := gradfix.MatmulOps(roots...)
					if err != nil {
						t.Fatal(err)
					}
					return gradfix.TotalFLOPs(ops)
				}
				fwdFLOPs, allFLOPs := flops(loss), flops(roots...)
				trainedWeights := 0
				for _, f := range forward {
					v := weights[f.Inputs()[1]]
					if v == nil {
						continue // attention products
					}
					x := f.Inputs()[0]
					grads := 0
					for _, bw := range backward {
						if operand(bw, x) && bw.Shape().Size() == v.Shape().Size() {
							grads++
						}
					}
					rel := nn.RelativeName(ctx.Scope(), v)
					switch {
					case v.Trainable && grads != 1:
						t.Errorf("trainable %s: %d gradient products, want 1", rel, grads)
					case !v.Trainable && grads != 0:
						t.Errorf("frozen %s: %d gradient products computed, want 0", rel, grads)
					case v.Trainable:
						trainedWeights++
					}
					layer := -1
					fmt.Sscanf(strings.TrimPrefix(rel, "bert/encoder/layer_"), "%d", &layer)
					if strings.HasPrefix(rel, "bert/encoder/layer_") && layer < m.FirstAdapted() {
						for _, bw := range backward {
							if operand(bw, f.Inputs()[1]) {
								t.Errorf("a gradient flows through frozen bottom weight %s", rel)
							}
						}
					}
				}
				if trainedWeights == 0 {
					t.Error("no trainable weight found: the check checks nothing")
				}
				backwardFLOPs[cached] = allFLOPs - fwdFLOPs
				t.Logf("%d forward and %d backward products; %d trained weights; matmul FLOPs forward %d, backward %d",
					len(forward), len(backward), trainedWeights, fwdFLOPs, allFLOPs-fwdFLOPs)
			})
		}
		if backwardFLOPs[false] != backwardFLOPs[true] {
			t.Errorf("%s: backward FLOPs plain %d ≠ cached %d", method, backwardFLOPs[false], backwardFLOPs[true])
		}
	}
}
