package lora_test

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/lora"
	"github.com/morphreuse/morphreuse-go/morph"
)

// The SPEC's MLP with LoRA r=4, α=8 on both linears, PEFT's way: build the
// base model, then apply the adapter to the layers named.
func Example() {
	mlp := func(ctx *context.Context, x *Node) *Node {
		ctx = ctx.In("model")
		h := activations.Relu(lora.Dense(ctx.In("fc1"), x, 512, true))
		return lora.Dense(ctx.In("fc2"), h, 10, true)
	}
	ctx := context.New()
	ctx.SetRNGStateFromSeed(0)
	image := tensors.FromShape(shapes.Make(dtypes.Float32, 1, 784))
	context.MustExecOnce(backend.MustDefault().Backend, ctx, mlp, image) // The base model's variables now exist.

	_, err := lora.Apply(ctx.In("model"), lora.Config{Rank: 4, Alpha: 8, Targets: []string{"fc1", "fc_2"}})
	fmt.Println(err)
	wrapped, err := lora.Apply(ctx.In("model"), lora.Config{Rank: 4, Alpha: 8, Targets: []string{"fc*"}})
	fmt.Println(wrapped, err)
	fmt.Println(morph.CountParameters(ctx.In("model")))
	// Output:
	// lora: target "fc_2" matches no layer (Dense layers under "/model": fc1, fc2)
	// [fc1 fc2] <nil>
	// trainable params: 7,272 || all params: 414,322 || trainable%: 1.7552
}
