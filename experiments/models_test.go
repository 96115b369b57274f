package experiments

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/internal/gradfix"
	"github.com/morphreuse/morphreuse-go/internal/nn"
	"github.com/morphreuse/morphreuse-go/lora"
	"github.com/morphreuse/morphreuse-go/morph"
)

// setup seeds a fresh context and sets the model up in it.
func setup(t *testing.T, c ModelConfig, seed int64) *context.Context {
	t.Helper()
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(seed); err != nil {
		t.Fatal(err)
	}
	ready, err := c.Setup(backend.MustDefault().Backend, ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ready
}

func TestParameterCountsMatchSpecTable(t *testing.T) {
	// SPEC §2's table, counted by the project's one counter.
	cases := []struct {
		arch             Arch
		method           Method
		trainable, total int64
	}{
		{MLP, Baseline, 407_050, 407_050},
		{MLP, MorphFrozen, 83_009, 315_713},
		{MLP, MorphTrained, 315_713, 315_713},
		{MLP, LoRA, 7_272, 414_322},
		{CNN, Baseline, 620_362, 620_362},
		{CNN, MorphFrozen, 176_257, 505_217},
		{CNN, MorphTrained, 505_217, 505_217},
		{CNN, LoRA, 103_528, 630_642},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s", c.arch, c.method), func(t *testing.T) {
			ctx := setup(t, NewModelConfig(c.arch, c.method), 0)
			got := morph.CountParameters(ctx.In(ModelScope))
			if want := (morph.Params{Trainable: c.trainable, Total: c.total}); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// tiny returns a small model of arch with the SPEC's structure: MLP 6 → 5 → 3;
// CNN [8,8,3] → channels 2, 3, 4 → 1·1·4 → 5 → 3; core d=4; LoRA r=2.
func tiny(arch Arch, method Method) ModelConfig {
	c := NewModelConfig(arch, method)
	c.Input, c.Hidden, c.Classes = []int{6}, 5, 3
	if arch == CNN {
		c.Input, c.Channels = []int{8, 8, 3}, []int{2, 3, 4}
	}
	c.Core = morph.CoreConfig{Dim: 4, Expand: 2.5}
	c.LoRA.Rank, c.LoRA.Alpha = 2, 4
	return c
}

// frozenBySpec lists the parameters each method freezes (by name relative to
// the model scope); every other parameter trains.
var frozenBySpec = map[Method][]string{
	Baseline:     nil,
	MorphFrozen:  {"adapter1/in_proj/weights", "adapter1/out_proj/weights", "adapter2/in_proj/weights", "adapter2/out_proj/weights"},
	MorphTrained: nil,
	LoRA:         {"fc1/weights", "fc1/biases", "fc2/weights", "fc2/biases"},
}

func snapshot(v *context.Variable) []byte {
	var out []byte
	if err := v.MustValue().ConstBytes(func(b []byte) { out = bytes.Clone(b) }); err != nil {
		panic(err)
	}
	return out
}

// TestTrainingUpdatesExactlyTheTrainableParameters is PEFT's "check that
// trainable weights changed after a few steps", for every method: after three
// Adam steps each frozen parameter is bit-identical and each trainable one moved.
func TestTrainingUpdatesExactlyTheTrainableParameters(t *testing.T) {
	for _, arch := range []Arch{MLP, CNN} {
		for _, method := range Methods {
			t.Run(fmt.Sprintf("%s/%s", arch, method), func(t *testing.T) {
				c := tiny(arch, method)
				ctx := setup(t, c, 1)
				model := ctx.In(ModelScope)
				before := map[string][]byte{}
				var frozen []string
				for v := range nn.Parameters(model) {
					name := nn.RelativeName(model.Scope(), v)
					before[name] = snapshot(v)
					if !v.Trainable {
						frozen = append(frozen, name)
					}
				}
				if want := frozenBySpec[method]; !slices.Equal(frozen, want) {
					t.Fatalf("frozen parameters %v, SPEC says %v", frozen, want)
				}

				// A batch of 8 random examples and labels.
				x := tensors.FromShape(inputShape(c, 8))
				tensors.MustMutableFlatData(x, func(f []float32) {
					for i := range f {
						f[i] = float32((i*7919)%13)/6 - 1
					}
				})
				labels := tensors.FromValue([][]int32{{0}, {1}, {2}, {0}, {1}, {2}, {0}, {1}})
				modelFn := func(ctx *context.Context, _ any, inputs []*Node) []*Node { return []*Node{c.Build(ctx, inputs[0])} }
				trainer := train.NewTrainer(backend.MustDefault().Backend, ctx, modelFn, losses.SparseCategoricalCrossEntropyLogits,
					optimizers.Adam().LearningRate(1e-3).Epsilon(1e-8).Done(), nil, nil)
				for range 3 {
					if _, err := trainer.TrainStep(nil, []*tensors.Tensor{x}, []*tensors.Tensor{labels}); err != nil {
						t.Fatal(err)
					}
				}

				for v := range nn.Parameters(model) {
					name := nn.RelativeName(model.Scope(), v)
					changed := !bytes.Equal(before[name], snapshot(v))
					if v.Trainable && !changed {
						t.Errorf("%s is trainable but did not change", name)
					}
					if !v.Trainable && changed {
						t.Errorf("%s is frozen but changed", name)
					}
				}
				if f := gradfix.Fallbacks(); f != 0 {
					t.Errorf("gradfix fell back %d times", f)
				}
			})
		}
	}
}

// inputShape is the float32 shape of a batch of c's inputs.
func inputShape(c ModelConfig, batch int) shapes.Shape {
	return shapes.Make(dtypes.Float32, append([]int{batch}, c.Input...)...)
}

func TestLoRABaseIsTheBaselineInit(t *testing.T) {
	// Same seed: the LoRA model's frozen base is exactly the baseline's initial model.
	for _, arch := range []Arch{MLP, CNN} {
		base := setup(t, tiny(arch, Baseline), 3)
		adapted := setup(t, tiny(arch, LoRA), 3)
		if got := lora.Wrapped(adapted.In(ModelScope)); !slices.Equal(got, []string{"fc1", "fc2"}) {
			t.Errorf("%s: LoRA wraps %v", arch, got)
		}
		for v := range nn.Parameters(base.In(ModelScope)) {
			w := adapted.GetVariableByScopeAndName(v.Scope(), v.Name())
			if w == nil || !bytes.Equal(snapshot(v), snapshot(w)) {
				t.Errorf("%s: %s differs between baseline and LoRA base", arch, v.ScopeAndName())
			}
		}
	}
}

func TestLogitsShapeForEveryModel(t *testing.T) {
	for _, arch := range []Arch{MLP, CNN} {
		for _, method := range Methods {
			c := tiny(arch, method)
			ctx := setup(t, c, 0)
			logits := context.MustExecOnce(backend.MustDefault().Backend, ctx, func(ctx *context.Context, x *Node) *Node {
				return c.Logits(ctx, []*Node{x})
			}, tensors.FromShape(inputShape(c, 4)))
			if dims := logits.Shape().Dimensions; !slices.Equal(dims, []int{4, 3}) {
				t.Errorf("%s/%s: logits %v, want [4 3]", arch, method, dims)
			}
		}
	}
}

func TestInvalidConfigsAreRefused(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*ModelConfig)
		wantErr string
	}{
		{"unknown method", func(c *ModelConfig) { c.Method = "morph" }, `unknown method "morph"`},
		{"unknown arch", func(c *ModelConfig) { c.Arch = "rnn" }, `unknown arch "rnn"`},
		{"cnn input not poolable", func(c *ModelConfig) { c.Arch, c.Input, c.Channels = CNN, []int{30, 30, 3}, []int{8, 8, 8} }, "divisible by 2^3"},
		{"lora without targets", func(c *ModelConfig) { c.Method, c.LoRA.Targets = LoRA, nil }, "no targets"},
		{"lora target typo", func(c *ModelConfig) { c.Method, c.LoRA.Targets = LoRA, []string{"fc1", "fc3"} }, `target "fc3" matches no layer`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := tiny(MLP, Baseline)
			c.edit(&cfg)
			_, err := cfg.Setup(backend.MustDefault().Backend, context.New())
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Setup error = %v, want it to contain %q", err, c.wantErr)
			}
		})
	}
}
