package tinybert

// Top-layer surgery (SPEC §3): which checkpoint tensors a method reads, which
// variables train, and the LoRA adapter.

import (
	"fmt"
	"path"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's own idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/morphreuse/morphreuse-go/internal/nn"
	"github.com/morphreuse/morphreuse-go/lora"
	"github.com/morphreuse/morphreuse-go/morph"
	"k8s.io/klog/v2"
)

// usesKey reports whether the model reads a checkpoint tensor: Morph replaces the
// adapted linears (its wrappers have their own shared weights), so it does not read
// their pretrained weights, which then are not part of the model at all.
func (m *Model) usesKey(key string) bool {
	if m.Method != Morph {
		return true
	}
	scope, _, _, err := VariableFor(key)
	if err != nil {
		return true
	}
	for _, lin := range m.AdaptedLinears() {
		if scope == lin {
			return false
		}
	}
	return true
}

// trainable is the method's rule for a parameter, by its name relative to the
// model's scope (LoRA's A and B are made trainable by lora.Apply).
func (m *Model) trainable(rel string) bool {
	switch m.Method {
	case Full:
		return true
	case Baseline:
		if strings.HasPrefix(rel, ClassifierScope+"/") {
			return true
		}
		for l := m.FirstAdapted(); l < m.Config.NumHiddenLayers; l++ {
			if strings.HasPrefix(rel, layerScope(l)+"/") {
				return true
			}
		}
		return false
	case Morph:
		return strings.HasPrefix(rel, SharedScope+"/") || path.Base(rel) == morph.WrapperScaleVar
	}
	return false
}

// Setup creates the model's variables under ctx's scope (e.g. root.In("model")), ready
// to train by the method:
//   - the checkpoint tensors it reads, from sd (after NormalizeKeys; the keys are
//     checked with CheckKeys: a missing or mis-shaped tensor is an error naming it);
//     use RandomWeights for a model without files. A checkpoint without classifier.*
//     (a pretrained backbone) gets transformers' head init, normal(0,
//     initializer_range) weights and zero biases, drawn from ctx's RNG, and a warning;
//   - the method's new parameters (Morph's shared weights and scales, LoRA's A and B),
//     from ctx's RNG: seed it first (ctx.SetRNGStateFromSeed);
//   - the Trainable flags: only what the method trains.
//
// Variables that already exist, or that ctx's Loader provides (a checkpoint being
// resumed), keep their values. Executors built afterwards need a context that reuses
// variables (root.Reuse()).
func (m *Model) Setup(backend backends.Backend, ctx *context.Context, sd StateDict) (report *KeyReport, err error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			report, err = nil, fmt.Errorf("tinybert: setting up the %s model: %v", m.Method, r)
		}
	}()
	if report, err = loadVariables(ctx, m.Config, sd, m.usesKey); err != nil {
		return nil, err
	}
	if report.InitHead && m.usesKey("classifier.weight") {
		klog.Warningf("tinybert: the checkpoint has no classifier: it is initialised as transformers does (normal(0, %g), zero bias)",
			m.Config.InitializerRange)
		head := ctx.Checked(false).In(ClassifierScope)
		head.WithInitializer(normalInit(ctx, m.Config.InitializerRange)).
			VariableWithShape(nn.WeightsVar, shapes.Make(dtypes.Float32, m.Config.HiddenSize, m.Config.NumLabels))
		head.WithInitializer(nn.Constant(0)).VariableWithShape(nn.BiasesVar, shapes.Make(dtypes.Float32, m.Config.NumLabels))
		// Now: building the graph re-registers the Dense layer's own initialiser.
		if err := ctx.InitializeVariables(backend, nil); err != nil {
			return nil, err
		}
	}
	// Build the model once on a dummy batch: this creates Morph's new parameters and
	// initialises every variable.
	one := func(v int32) *tensors.Tensor { return tensors.FromValue([][]int32{{v, v}}) }
	if _, err := context.ExecOnce(backend, ctx.Checked(false), func(ctx *context.Context, ids, mask, types *Node) *Node {
		return m.Logits(ctx, ids, mask, types)
	}, one(0), one(1), one(0)); err != nil {
		return nil, err
	}
	for v := range nn.Parameters(ctx) {
		v.SetTrainable(m.trainable(nn.RelativeName(ctx.Scope(), v)))
	}
	if m.Method == LoRA {
		cfg := m.loraConfig()
		wrapped, err := lora.Apply(ctx, cfg)
		if err != nil {
			return nil, err
		}
		if len(wrapped) != len(m.AdaptedLinears()) && len(m.LoRA.Targets) == 0 {
			return nil, fmt.Errorf("tinybert: LoRA wrapped %d layers (%v), want %d", len(wrapped), wrapped, len(m.AdaptedLinears()))
		}
		if err := ctx.InitializeVariables(backend, nil); err != nil {
			return nil, err
		}
	}
	return report, nil
}
