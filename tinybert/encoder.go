package tinybert

// The BERT encoder and classification head of transformers' BertForSequenceClassification,
// in GoMLX, on one screen (nanoGPT's model.py in spirit), plus the top-layer surgery of
// SPEC §3 (Method). Formulated for simplego: linears are rank-2 Dots (nn.Affine), the
// attention products are Einsums with batch axes (both get internal/gradfix's fast
// gradients), positions and the [CLS] token are a Gather of an iota and a Slice (no Pad),
// LayerNorm uses 1/Sqrt (no Rsqrt), GELU is the exact erf one.

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's own idiom.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/morphreuse/morphreuse-go/internal/nn"
	"github.com/morphreuse/morphreuse-go/lora"
	"github.com/morphreuse/morphreuse-go/morph"
)

// Method says which parts of the model train (SPEC §3).
type Method string

const (
	// Full is the plain BertForSequenceClassification, every parameter trainable and
	// dropout everywhere (as transformers in train mode). The parity tests use it.
	Full Method = "full"
	// Baseline trains the top layers and the classifier; embeddings, lower layers and
	// the pooler are frozen.
	Baseline Method = "baseline"
	// Morph freezes the encoder and replaces every linear of the top layers (q, k, v,
	// attention output, intermediate, output) and the classifier by
	// morph.LinearWrapperShared: one shared (W, b) per shape, one scale per wrapper.
	// Only those train; the pooler and the top layers' LayerNorms stay frozen.
	Morph Method = "morph"
	// LoRA freezes the whole model and puts LoRA (r 8, α 16) on the same linears.
	LoRA Method = "lora"
)

// Methods are SPEC §3's methods, in report order.
var Methods = []Method{Baseline, Morph, LoRA}

// SPEC §3 defaults.
const (
	DefaultTopLayers = 2
	DefaultLoRARank  = 8
	DefaultLoRAAlpha = 16
)

// Model is a BertForSequenceClassification of Config, adapted by Method. Its variables
// live under the scope of the context given to its methods (see VariableFor for the
// names).
type Model struct {
	Config Config
	Method Method
	// TopLayers is how many top encoder layers the method trains or adapts (SPEC: 2).
	// The embeddings and the layers below are frozen and run without dropout in every
	// method but Full, so their output can be computed once and cached (Frozen).
	TopLayers int
	// LoRA configures the LoRA method (SPEC: r 8, α 16). Empty Targets mean AdaptedLinears().
	LoRA lora.Config
}

// NewModel is SPEC §3's model for a backbone configuration and a method.
func NewModel(cfg Config, method Method) (*Model, error) {
	m := &Model{Config: cfg, Method: method, TopLayers: min(DefaultTopLayers, cfg.NumHiddenLayers),
		LoRA: lora.Config{Rank: DefaultLoRARank, Alpha: DefaultLoRAAlpha}}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Validate reports a model that cannot be built.
func (m *Model) Validate() error {
	if err := m.Config.Validate(); err != nil {
		return err
	}
	switch m.Method {
	case Full, Baseline, Morph, LoRA:
	default:
		return fmt.Errorf("tinybert: unknown method %q (want one of %v or %q)", m.Method, Methods, Full)
	}
	if m.TopLayers < 1 || m.TopLayers > m.Config.NumHiddenLayers {
		return fmt.Errorf("tinybert: top layers %d must be in [1, %d]", m.TopLayers, m.Config.NumHiddenLayers)
	}
	if m.Method == LoRA {
		return m.loraConfig().Validate()
	}
	return nil
}

// FirstAdapted is the first encoder layer the method trains or adapts (0 for Full).
// The embeddings and the layers before it are frozen and dropout-free.
func (m *Model) FirstAdapted() int {
	if m.Method == Full {
		return 0
	}
	return m.Config.NumHiddenLayers - m.TopLayers
}

// Layer scopes, relative to the model's scope.
func layerScope(l int) string { return fmt.Sprintf("bert/encoder/layer_%d", l) }

// The six linears of a layer, relative to the layer's scope, in HF's order.
var layerLinears = []string{
	"attention/self/query", "attention/self/key", "attention/self/value",
	"attention/output/dense", "intermediate/dense", "output/dense",
}

// ClassifierScope is the scope of the classification head.
const ClassifierScope = "classifier"

// SharedScope holds Morph's shared weights (one (W, b) per shape).
const SharedScope = "shared"

// AdaptedLinears lists the linears Morph and LoRA replace or wrap, as scopes relative
// to the model's: the six linears of each top layer, then the classifier.
func (m *Model) AdaptedLinears() []string {
	var names []string
	for l := m.FirstAdapted(); l < m.Config.NumHiddenLayers; l++ {
		for _, lin := range layerLinears {
			names = append(names, layerScope(l)+"/"+lin)
		}
	}
	return append(names, ClassifierScope)
}

func (m *Model) loraConfig() lora.Config {
	c := m.LoRA
	if len(c.Targets) == 0 {
		c.Targets = m.AdaptedLinears()
	}
	return c
}

// LayerOutputs are one encoder layer's intermediate values (transformers' names).
type LayerOutputs struct {
	Query, Key, Value *Node // [B, L, H] projections, before the head split
	Probs             *Node // [B, heads, L, L] attention probabilities (after dropout when training)
	Context           *Node // [B, L, H] softmax(QKᵀ/√d + mask)·V, heads merged
	Attention         *Node // [B, L, H] LayerNorm(dense(Context) + input)
	Intermediate      *Node // [B, L, I] GELU(dense(Attention))
	Output            *Node // [B, L, H] the layer's output
}

// Outputs are the model's values for one batch. Layers below the first one computed
// (ForwardFrom) are nil, and so is Embeddings then.
type Outputs struct {
	Embeddings *Node // [B, L, H]
	Layers     []*LayerOutputs
	Hidden     *Node // [B, L, H] last hidden state
	Pooled     *Node // [B, H] tanh(dense(Hidden[:, 0]))
	Logits     *Node // [B, NumLabels]
}

// builder holds what one graph construction shares.
type builder struct {
	m        *Model
	ctx      *context.Context // the model's scope
	training bool
	shared   *morph.SharedWeights
	out      *Outputs
}

func (m *Model) newBuilder(ctx *context.Context, g *Graph) *builder {
	return &builder{m: m, ctx: ctx, training: ctx.IsTraining(g), shared: morph.NewSharedWeights(ctx.In(SharedScope)),
		out: &Outputs{Layers: make([]*LayerOutputs, m.Config.NumHiddenLayers)}}
}

// Forward runs the whole model on int32 token inputs [B, L]: ids, attention mask
// (1 real, 0 padding) and token types (nil: all 0). Dropout is on when ctx is in
// training mode for the graph, in the layers the method trains.
func (m *Model) Forward(ctx *context.Context, ids, mask, types *Node) *Outputs {
	b := m.newBuilder(ctx, ids.Graph())
	bias := attentionBias(mask)
	h := b.frozen(ids, types, bias)
	if m.Method != Full {
		// Nothing below trains: say so, so no gradient work is ever spent there.
		h = StopGradient(h)
	}
	return b.top(h, bias)
}

// Frozen is the frozen bottom of the model: the embeddings and the layers below
// FirstAdapted(), [B, L, H]. It has no dropout and no trainable parameter in any
// method but Full, so a batch's value never changes during training: it can be
// computed once per example and fed to ForwardFrom. The Full model has no frozen
// part: Frozen panics for it.
func (m *Model) Frozen(ctx *context.Context, ids, mask, types *Node) *Node {
	if m.Method == Full {
		panic("tinybert: the full model trains everything: it has no frozen part to cache")
	}
	b := m.newBuilder(ctx, ids.Graph())
	return StopGradient(b.frozen(ids, types, attentionBias(mask)))
}

// ForwardFrom runs the layers from FirstAdapted() on, the pooler and the head, on
// hidden = Frozen(...) [B, L, H] and its attention mask [B, L].
func (m *Model) ForwardFrom(ctx *context.Context, hidden, mask *Node) *Outputs {
	b := m.newBuilder(ctx, hidden.Graph())
	return b.top(StopGradient(hidden), attentionBias(mask))
}

// Logits is Forward's logits.
func (m *Model) Logits(ctx *context.Context, ids, mask, types *Node) *Node {
	return m.Forward(ctx, ids, mask, types).Logits
}

// attentionBias is transformers' additive mask (1 − mask)·finfo.min, [B, 1, 1, L]
// (exp underflows to exactly 0 on padded keys).
func attentionBias(mask *Node) *Node {
	if mask.Rank() != 2 {
		panic(fmt.Sprintf("tinybert: attention mask must be [batch, length], got %s", mask.Shape()))
	}
	lowest := -math.MaxFloat32
	f := ConvertDType(mask, dtypes.Float32)
	bias := MulScalar(OneMinus(f), lowest)
	return Reshape(bias, mask.Shape().Dim(0), 1, 1, mask.Shape().Dim(1))
}

func (b *builder) frozen(ids, types *Node, bias *Node) *Node {
	h := b.embeddings(ids, types)
	for l := 0; l < b.m.FirstAdapted(); l++ {
		h = b.layer(l, h, bias)
	}
	return h
}

func (b *builder) top(h, bias *Node) *Outputs {
	for l := b.m.FirstAdapted(); l < b.m.Config.NumHiddenLayers; l++ {
		h = b.layer(l, h, bias)
	}
	b.out.Hidden = h
	b.out.Pooled, b.out.Logits = b.head(h)
	return b.out
}

// dropout applies rate when training and the part trains (trained says so).
func (b *builder) dropout(x *Node, rate float64, trained bool) *Node {
	if !b.training || !trained || rate <= 0 {
		return x
	}
	// Draws from the context's RNG (the "#rngState" variable): reproducible from the
	// seed, and saved with the other variables in checkpoints.
	return layers.DropoutStatic(b.ctx, x, rate)
}

func (b *builder) embeddings(ids, types *Node) *Node {
	cfg := b.m.Config
	if ids.Rank() != 2 || !ids.DType().IsInt() {
		panic(fmt.Sprintf("tinybert: token ids must be integer [batch, length], got %s", ids.Shape()))
	}
	g := ids.Graph()
	batch, length := ids.Shape().Dim(0), ids.Shape().Dim(1)
	if length > cfg.MaxPositionEmbeddings {
		panic(fmt.Sprintf("tinybert: sequence length %d exceeds max_position_embeddings %d", length, cfg.MaxPositionEmbeddings))
	}
	ectx := inScope(b.ctx, "bert/embeddings")
	words := b.lookup(ectx.In("word_embeddings"), cfg.VocabSize, ExpandAxes(ids, -1))
	positions := b.lookup(ectx.In("position_embeddings"), cfg.MaxPositionEmbeddings, Iota(g, shapes.Make(dtypes.Int32, 1, length, 1), 1))
	if types == nil {
		types = Zeros(g, shapes.Make(dtypes.Int32, batch, length))
	}
	tokenTypes := b.lookup(ectx.In("token_type_embeddings"), cfg.TypeVocabSize, ExpandAxes(types, -1))
	h := Add(Add(words, tokenTypes), positions) // transformers' order: words + token types, then positions
	h = nn.LayerNorm(ectx.In("LayerNorm"), h, cfg.LayerNormEps)
	h = b.dropout(h, cfg.HiddenDropoutProb, b.m.Method == Full)
	b.out.Embeddings = h
	return h
}

// lookup gathers rows of the table variable of ctx: indices [..., 1] → [..., H].
func (b *builder) lookup(ctx *context.Context, rows int, indices *Node) *Node {
	cfg := b.m.Config
	table := ctx.WithInitializer(normalInit(b.ctx, cfg.InitializerRange)).
		VariableWithShape(EmbeddingsVar, shapes.Make(dtypes.Float32, rows, cfg.HiddenSize))
	return Gather(table.ValueGraph(indices.Graph()), indices)
}

// linear is the layer at scope (relative to the model's): a plain (LoRA-wrappable)
// Dense, or, for an adapted linear of the Morph method, a shared-weight wrapper.
func (b *builder) linear(scope string, x *Node, out int, adapted bool) *Node {
	ctx := inScope(b.ctx, scope)
	if adapted && b.m.Method == Morph {
		return morph.LinearWrapperShared(ctx, x, out, b.shared)
	}
	return lora.Dense(ctx, x, out, true)
}

func (b *builder) layer(l int, x, bias *Node) *Node {
	cfg := b.m.Config
	adapted := l >= b.m.FirstAdapted()
	trained := adapted || b.m.Method == Full
	scope := layerScope(l)
	lin := func(name string, x *Node, out int) *Node { return b.linear(scope+"/"+name, x, out, adapted) }
	o := &LayerOutputs{}
	b.out.Layers[l] = o

	batch, length, hidden := x.Shape().Dim(0), x.Shape().Dim(1), cfg.HiddenSize
	heads, headDim := cfg.NumAttentionHeads, cfg.HeadDim()
	o.Query = lin("attention/self/query", x, hidden)
	o.Key = lin("attention/self/key", x, hidden)
	o.Value = lin("attention/self/value", x, hidden)
	split := func(t *Node) *Node { return Reshape(t, batch, length, heads, headDim) } // head h = features [h·d, (h+1)·d)
	scores := Einsum("bqhd,bkhd->bhqk", split(o.Query), split(o.Key))
	scores = Add(DivScalar(scores, math.Sqrt(float64(headDim))), bias)
	o.Probs = b.dropout(Softmax(scores, -1), cfg.AttentionProbsDropoutProb, trained)
	o.Context = Reshape(Einsum("bhqk,bkhd->bqhd", o.Probs, split(o.Value)), batch, length, hidden)

	attn := b.dropout(lin("attention/output/dense", o.Context, hidden), cfg.HiddenDropoutProb, trained)
	o.Attention = nn.LayerNorm(inScope(b.ctx, scope+"/attention/output/LayerNorm"), Add(attn, x), cfg.LayerNormEps)
	o.Intermediate = nn.GELU(lin("intermediate/dense", o.Attention, cfg.IntermediateSize))
	ffn := b.dropout(lin("output/dense", o.Intermediate, hidden), cfg.HiddenDropoutProb, trained)
	o.Output = nn.LayerNorm(inScope(b.ctx, scope+"/output/LayerNorm"), Add(ffn, o.Attention), cfg.LayerNormEps)
	return o.Output
}

// head is the pooler (dense + tanh on [CLS], never adapted) and the classifier with
// its dropout.
func (b *builder) head(h *Node) (pooled, logits *Node) {
	cfg := b.m.Config
	cls := Reshape(Slice(h, AxisRange(), AxisElem(0), AxisRange()), h.Shape().Dim(0), cfg.HiddenSize)
	pooled = Tanh(b.linear("bert/pooler/dense", cls, cfg.HiddenSize, false))
	x := b.dropout(pooled, cfg.ClassifierDropoutProb(), true)
	return pooled, b.linear(ClassifierScope, x, cfg.NumLabels, true)
}

// normalInit is transformers' init of linear weights and embeddings: normal(0, std),
// from the context's RNG.
func normalInit(ctx *context.Context, std float64) context.VariableInitializer {
	return func(g *Graph, shape shapes.Shape) *Node {
		return MulScalar(ctx.RandomNormal(g, shape), std)
	}
}
