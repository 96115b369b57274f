package morph

import (
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

func TestParamsStringIsPEFTLine(t *testing.T) {
	cases := []struct {
		p    Params
		want string
	}{
		{Params{83009, 315713}, "trainable params: 83,009 || all params: 315,713 || trainable%: 26.2926"},
		{Params{7272, 414322}, "trainable params: 7,272 || all params: 414,322 || trainable%: 1.7552"},
		{Params{1234567, 1234567}, "trainable params: 1,234,567 || all params: 1,234,567 || trainable%: 100.0000"},
		{Params{1, 3}, "trainable params: 1 || all params: 3 || trainable%: 33.3333"},
		{Params{999, 1000}, "trainable params: 999 || all params: 1,000 || trainable%: 99.9000"},
		{Params{0, 0}, "trainable params: 0 || all params: 0 || trainable%: 0.0000"},
	}
	for _, c := range cases {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v:\n got %q\nwant %q", c.p, got, c.want)
		}
	}
}

func TestCountParametersCountsSharedCoreOnce(t *testing.T) {
	// Core (d=4, hidden 10): W1 40+10, LN 20, W2 40+4, s 1 = 115, counted once
	// although both adapters use it. Projections 6·4 + 4·5 + 5·4 + 4·3 = 76.
	cases := []struct {
		frozen bool
		want   Params
	}{
		{false, Params{Trainable: 191, Total: 191}},
		{true, Params{Trainable: 115, Total: 191}},
	}
	for _, c := range cases {
		ctx, _ := forward(t, 0, twoAdapters(c.frozen), tensors.FromScalarAndDimensions(0.0, 1, 6))
		if got := CountParameters(ctx); got != c.want {
			t.Errorf("frozen=%v: %+v, want %+v", c.frozen, got, c.want)
		}
	}
}

func TestCountParametersIgnoresTrainingState(t *testing.T) {
	ctx := context.New()
	ctx.SetRNGStateFromSeed(1)
	modelFn := func(ctx *context.Context, _ any, inputs []*Node) []*Node {
		return []*Node{twoAdapters(true)(ctx.In("model"), inputs[0])}
	}
	trainer := train.NewTrainer(testBackend(t), ctx, modelFn, losses.MeanSquaredError, optimizers.Adam().Done(), nil, nil)
	x, y := tensors.FromScalarAndDimensions(float32(1), 4, 6), tensors.FromScalarAndDimensions(float32(0), 4, 3)
	for range 2 {
		if _, err := trainer.TrainStep(nil, []*tensors.Tensor{x}, []*tensors.Tensor{y}); err != nil {
			t.Fatal(err)
		}
	}
	// The context now also holds the RNG state, global steps, the learning
	// rate, Adam's moments and metric averages: many more numbers than the model.
	all := 0
	for v := range ctx.IterVariables() {
		all += v.Shape().Size()
	}
	want := Params{Trainable: 115, Total: 191}
	if all <= int(want.Total)+115 {
		t.Fatalf("expected optimizer state in the context; it has only %d numbers", all)
	}
	assertNoGradientFallbacks(t)
	for _, scope := range []*context.Context{ctx, ctx.In("model")} {
		if got := CountParameters(scope); got != want {
			t.Errorf("CountParameters(%q) = %+v, want %+v", scope.Scope(), got, want)
		}
	}
}
