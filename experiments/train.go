package experiments

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/morphreuse/morphreuse-go/datasets"
	"github.com/morphreuse/morphreuse-go/internal/gradfix"
)

// Data is one split, uploaded to the device once: every tensor holds the
// examples on axis 0. Training and evaluation graphs receive the whole split
// plus a small int32 index tensor and Gather their batch on the device, so no
// step copies examples from the host.
type Data struct {
	Inputs []*tensors.Tensor // e.g. images [N,H,W,C]; token ids [N,L] and mask [N,L]
	Labels *tensors.Tensor   // int32 [N]
}

// N is the number of examples.
func (d Data) N() int { return d.Labels.Shape().Dimensions[0] }

// ToDevice moves the split to the backend once, sharing the buffer with the
// host where the backend allows (simplego and XLA's CPU plugin do): the
// host copy is then freed rather than kept beside the device copy.
func (d Data) ToDevice(b backends.Backend) error {
	for _, t := range append([]*tensors.Tensor{d.Labels}, d.Inputs...) {
		if err := t.MaterializeOnDevice(b, true, 0); err != nil {
			return err
		}
	}
	return nil
}

// Logits is a model: logits [batch, classes] from the batch's inputs.
type Logits func(ctx *context.Context, inputs []*Node) *Node

// Loop compiles a model's training and evaluation steps once and runs them.
type Loop struct {
	backend   backends.Backend
	ctx       *context.Context
	model     Logits
	optimizer optimizers.Interface
	trainExec *context.Exec
	evalExec  *context.Exec
	compiles  atomic.Int32
	// What the last built graphs compute, for FLOP counts (see Matmuls).
	trainRoots, evalRoots []*Node
}

// NewLoop prepares (but does not compile) the training and evaluation steps.
func NewLoop(backend backends.Backend, ctx *context.Context, model Logits, optimizer optimizers.Interface) *Loop {
	l := &Loop{backend: backend, ctx: ctx, model: model, optimizer: optimizer}
	l.trainExec = context.MustNewExec(backend, ctx, l.trainGraph)
	l.evalExec = context.MustNewExec(backend, ctx, l.evalGraph)
	return l
}

// Compiles is how many graphs were built so far: one training graph and one
// evaluation graph per run, whatever the number of epochs (the last partial
// evaluation batch is padded, not given a graph of its own).
func (l *Loop) Compiles() int { return int(l.compiles.Load()) }

// Finalize frees the compiled graphs.
func (l *Loop) Finalize() {
	l.trainExec.Finalize()
	l.evalExec.Finalize()
}

// gather takes the rows idx of every data tensor.
func gather(data []*Node, idx *Node) []*Node {
	out := make([]*Node, len(data))
	rows := ExpandAxes(idx, -1)
	for i, d := range data {
		out[i] = Gather(d, rows)
	}
	return out
}

// crossEntropy is the per-example softmax cross-entropy of logits [B,K] and int32 labels [B].
func crossEntropy(logits, labels *Node) *Node {
	oneHot := OneHot(labels, logits.Shape().Dimensions[1], logits.DType())
	return Neg(ReduceSum(Mul(oneHot, LogSoftmax(logits, -1)), -1))
}

// trainGraph: inputs are [data inputs..., labels, batch indices]; returns
// the batch's mean loss and whether every updated variable is still finite
// (checked in the graph: a few element-wise ops, no copy to the host).
func (l *Loop) trainGraph(ctx *context.Context, nodes []*Node) (loss, finite *Node) {
	l.compiles.Add(1)
	g := nodes[0].Graph()
	ctx.SetTraining(g, true)
	n := len(nodes)
	batch := gather(nodes[:n-1], nodes[n-1])
	logits := l.model(ctx, batch[:n-2])
	loss = ReduceAllMean(crossEntropy(logits, batch[n-2]))
	l.optimizer.UpdateGraph(ctx, g, loss)
	finite = IsFinite(loss)
	for v := range ctx.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) && v.DType().IsFloat() {
			finite = And(finite, LogicalAll(IsFinite(v.ValueGraph(g))))
		}
	}
	l.trainRoots = []*Node{loss, finite}
	for v := range ctx.IterVariables() {
		if v.ChangedInGraph(g) {
			l.trainRoots = append(l.trainRoots, v.ValueGraph(g))
		}
	}
	return loss, finite
}

// evalGraph: inputs are [data inputs..., labels, batch indices, valid rows];
// returns the number of correct predictions and the summed loss over the first `valid` rows.
func (l *Loop) evalGraph(ctx *context.Context, nodes []*Node) []*Node {
	l.compiles.Add(1)
	g := nodes[0].Graph()
	ctx.SetTraining(g, false)
	n := len(nodes)
	batch := gather(nodes[:n-2], nodes[n-2])
	logits := l.model(ctx, batch[:n-3])
	labels := batch[n-3]
	size := labels.Shape().Dimensions[0]
	valid := LessThan(Iota(g, shapes.Make(dtypes.Int32, size), 0), nodes[n-1])
	correct := And(valid, Equal(ArgMax(logits, -1, dtypes.Int32), labels))
	zero := ZerosLike(crossEntropy(logits, labels))
	loss := Where(valid, crossEntropy(logits, labels), zero)
	l.evalRoots = []*Node{ReduceAllSum(ConvertDType(correct, dtypes.Int32)), ReduceAllSum(ConvertDType(loss, dtypes.Float64))}
	return l.evalRoots
}

// Matmuls lists the matrix products one training step and one evaluation
// step compute (both graphs must have been built: run a step of each
// first). Frozen weights' gradient products are absent from the training list.
func (l *Loop) Matmuls() (train, eval []gradfix.MatmulOp, err error) {
	if l.trainRoots == nil || l.evalRoots == nil {
		return nil, nil, fmt.Errorf("Matmuls: run a training and an evaluation step first")
	}
	if train, err = gradfix.MatmulOps(l.trainRoots...); err != nil {
		return nil, nil, err
	}
	eval, err = gradfix.MatmulOps(l.evalRoots...)
	return train, eval, err
}

func (l *Loop) args(data Data, extra ...*tensors.Tensor) []any {
	args := make([]any, 0, len(data.Inputs)+1+len(extra))
	for _, t := range data.Inputs {
		args = append(args, t)
	}
	args = append(args, data.Labels)
	for _, t := range extra {
		args = append(args, t)
	}
	return args
}

// TrainStep runs one optimizer step on the rows idx of data and returns the
// batch loss. A non-finite loss or parameter is an error naming the
// variables that went bad: nothing trained after it is worth keeping.
func (l *Loop) TrainStep(data Data, idx []int32) (float64, error) {
	out, err := l.trainExec.Exec(l.args(data, tensors.FromValue(idx))...)
	if err != nil {
		return 0, err
	}
	loss := scalarFloat(out[0])
	if !tensors.ToScalar[bool](out[1]) {
		return loss, &NonFiniteError{Loss: loss, Variables: nonFiniteVariables(l.ctx)}
	}
	return loss, nil
}

// NonFiniteError is a training step that produced a NaN or infinite loss or parameter.
type NonFiniteError struct {
	Loss      float64
	Variables []string // trainable variables holding NaN or ±Inf after the step
}

func (e *NonFiniteError) Error() string {
	msg := fmt.Sprintf("training diverged: loss %v", e.Loss)
	if len(e.Variables) > 0 {
		msg += fmt.Sprintf(", non-finite values in %s", strings.Join(e.Variables, ", "))
	}
	return msg
}

// nonFiniteVariables scans the trainable float variables on the host (only after a failure).
func nonFiniteVariables(ctx *context.Context) []string {
	var bad []string
	for v := range ctx.IterVariables() {
		value, err := v.Value()
		if !v.Trainable || err != nil || value == nil || !v.DType().IsFloat() {
			continue
		}
		found := false
		value.ConstFlatData(func(flat any) {
			switch xs := flat.(type) {
			case []float32:
				found = slices.ContainsFunc(xs, func(x float32) bool { return math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) })
			case []float64:
				found = slices.ContainsFunc(xs, func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) })
			}
		})
		if found {
			bad = append(bad, v.ScopeAndName())
		}
	}
	return bad
}

// Evaluate returns accuracy and mean loss over data, in order, batch by
// batch (see datasets.EvalBatches: the last batch is padded and masked, so
// one graph serves every batch).
func (l *Loop) Evaluate(data Data, batchSize int) (accuracy, loss float64, err error) {
	batches, err := datasets.EvalBatches(data.N(), batchSize)
	if err != nil {
		return 0, 0, err
	}
	var correct int64
	var lossSum float64
	for _, b := range batches {
		out, err := l.evalExec.Exec(l.args(data, tensors.FromValue(b.Indices), tensors.FromValue(int32(b.Valid)))...)
		if err != nil {
			return 0, 0, err
		}
		correct += int64(tensors.MustCopyFlatData[int32](out[0])[0])
		lossSum += tensors.MustCopyFlatData[float64](out[1])[0]
	}
	n := float64(data.N())
	return float64(correct) / n, lossSum / n, nil
}

func scalarFloat(t *tensors.Tensor) float64 {
	switch t.DType() {
	case dtypes.Float32:
		return float64(tensors.MustCopyFlatData[float32](t)[0])
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](t)[0]
	}
	panic(fmt.Sprintf("scalarFloat: unexpected dtype %s", t.DType()))
}
