package morph_test

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/morph"
)

// The SPEC's MNIST model, morph-frozen: two adapters on one shared core, the
// projections frozen at init. The core is counted once.
func Example() {
	model := func(ctx *context.Context, x *Node) *Node {
		ctx = ctx.In("model")
		core := morph.NewCore(ctx.In("core"), morph.DefaultCoreConfig())
		h := activations.Relu(morph.Adapter(ctx.In("adapter1"), x, 512, core, true))
		return morph.Adapter(ctx.In("adapter2"), h, 10, core, true)
	}
	ctx := context.New()
	ctx.SetRNGStateFromSeed(0)
	image := tensors.FromShape(shapes.Make(dtypes.Float32, 1, 784))
	context.MustExecOnce(backend.MustDefault().Backend, ctx, model, image)

	fmt.Println(morph.CountParameters(ctx.In("model")))
	alphas, _ := morph.Alphas(ctx)
	fmt.Printf("%s applies α = 2·sigmoid(−3) = %.4f\n", alphas[0].Name, alphas[0].Value)
	// Output:
	// trainable params: 83,009 || all params: 315,713 || trainable%: 26.2926
	// model/core applies α = 2·sigmoid(−3) = 0.0949
}
