// Package lora is LoRA (Hu et al. 2021) for this project's GoMLX models, split
// the way PEFT splits it: a Config, a layer (Dense) and the model-level steps
// (Apply, Disable/Enable, MergeAndUnload, Save/Load).
//
// A wrapped linear layer computes
//
//	y = x·W + b + scaling·(x·A)·B,  scaling = Alpha/Rank (Alpha/√Rank with RSLoRA)
//
// with W [in, out] and b frozen, A [in, r] initialised kaiming-uniform(a=√5)
// as PEFT does (U(±1/√in)) and B [r, out] zeros, so a fresh adapter is a no-op.
// (PEFT stores A as [r, in] and B as [out, r]; these are their transposes, so
// both products are plain rank-2 matrix products.)
//
// The flow is PEFT's: build the base model with Dense where LoRA may go (Dense
// is nn.Linear until an adapter is applied), create its variables (build the
// graph once, or load a checkpoint and build it), then
//
//	wrapped, err := lora.Apply(ctx.In("model"), lora.Config{Rank: 4, Alpha: 8, Targets: []string{"fc1", "fc2"}})
//	fmt.Println("LoRA on:", wrapped)
//
// and train: only A and B of the wrapped layers, plus whatever else in the
// model is still trainable, are updated. Executors built before Apply or
// MergeAndUnload must be rebuilt; Disable/Enable act on existing ones.
//
// Targets select layers strictly: each one must match at least one Dense
// layer, or Apply fails and lists the layers there are.
//
// Save writes the adapter, together with the model's other trainable
// variables and a SHA-256 fingerprint of every wrapped base weight; Load puts
// it into a freshly built model and refuses a base that differs (see
// ConfigFile for the format).
package lora

import (
	"errors"
	"fmt"
	"math"
	"path"
	"strings"
)

// Config of an adapter (SPEC: images r=4, α=8; SST-2 r=8, α=16; no dropout).
type Config struct {
	Rank   int     // r, the rank of B·A
	Alpha  float64 // α; the update is scaled by α/r
	RSLoRA bool    // scale by α/√r (rank-stabilised LoRA) instead of α/r
	// Targets select the Dense layers to wrap by name, the layer's scope
	// relative to the scope Apply is given (e.g. "fc1",
	// "encoder/layer_3/attention/query"). A target matches a name when it
	// matches, as a path.Match glob, the whole name or any part of it that
	// starts after a "/": "query" selects every ".../query" (PEFT's suffix
	// rule), "layer_*/attention/*" every attention projection.
	Targets []string
}

// Scaling is the factor applied to B·A: Alpha/Rank, or Alpha/√Rank with RSLoRA.
func (c Config) Scaling() float64 {
	if c.RSLoRA {
		return c.Alpha / math.Sqrt(float64(c.Rank))
	}
	return c.Alpha / float64(c.Rank)
}

// Validate reports a configuration that cannot be applied.
func (c Config) Validate() error {
	var errs []error
	if c.Rank <= 0 {
		errs = append(errs, fmt.Errorf("rank %d must be positive", c.Rank))
	}
	if c.Alpha <= 0 || math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0) {
		errs = append(errs, fmt.Errorf("alpha %g must be positive and finite", c.Alpha))
	}
	if len(c.Targets) == 0 {
		errs = append(errs, errors.New("no targets: name the layers to wrap"))
	}
	for _, t := range c.Targets {
		if _, err := path.Match(t, ""); err != nil || t == "" {
			errs = append(errs, fmt.Errorf("target %q is not a valid pattern", t))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lora: invalid config: %w", err)
	}
	return nil
}

// matches reports whether target selects the layer called name (see Config.Targets).
func matches(target, name string) bool {
	for suffix := name; ; {
		if ok, _ := path.Match(target, suffix); ok {
			return true
		}
		i := strings.IndexByte(suffix, '/')
		if i < 0 {
			return false
		}
		suffix = suffix[i+1:]
	}
}
