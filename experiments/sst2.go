package experiments

// SST-2 on a frozen pretrained BERT (SPEC §3): the data (tokenised once, grouped by
// padded length), the optional speed-ups (frozen bottom cached, length buckets), and a
// run through the same Loop, checkpoints, hooks and records as the image tasks.

import (
	stdcontext "context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/morphreuse/morphreuse-go/datasets"
	"github.com/morphreuse/morphreuse-go/internal/backend"
	"github.com/morphreuse/morphreuse-go/morph"
	"github.com/morphreuse/morphreuse-go/results"
	"github.com/morphreuse/morphreuse-go/tinybert"
)

// SST2 is SST-2's data set name in records.
const SST2 = "sst2"

// Morph is SST-2's MorphReuse method: shared-weight wrappers on the top layers (SPEC §3).
const Morph Method = "morph"

// SST2Methods are the SST-2 methods, in report order.
var SST2Methods = []Method{Baseline, Morph, LoRA}

// DefaultSST2Buckets are the padded lengths of the bucketed variant: one training
// graph each.
var DefaultSST2Buckets = []int{16, 32, 64}

// maxBuckets bounds the number of padded lengths (each is one more training graph).
const maxBuckets = 3

// SST2Config is one SST-2 run: a method, a seed, a backbone, and the protocol.
type SST2Config struct {
	Method   Method
	Seed     int
	Backbone string // model directory: config.json, vocab.txt, model.safetensors or pytorch_model.bin
	// BackboneName is what Backbone holds (tinybert.IdentifyDir): TinyBERT, the
	// bert-tiny fixture or a custom BERT. Runs on other backbones than TinyBERT
	// carry it in their variant, so their records never take TinyBERT's names.
	BackboneName string

	Epochs       int     // SPEC: 3
	BatchSize    int     // 32
	MaxLen       int     // 64: [CLS] … [SEP] truncated and padded to this length
	LearningRate float64 // AdamW 1e-4
	WeightDecay  float64 // 0.01, decoupled (GoMLX's Adam WeightDecay is PyTorch's AdamW)
	AdamEpsilon  float64 // 1e-8

	// Cache computes the frozen bottom (embeddings and the layers below the adapted
	// ones: frozen and dropout-free in every method) once per split; training starts
	// from its output.
	Cache bool
	// Buckets, when set, are the padded lengths (ascending, at most 3): every example
	// is padded to the smallest one that holds it and batches are drawn within a
	// length. MaxLen is always the last one.
	Buckets []int

	DataDir    string // see datasets.Dir
	LimitTrain int    // use only the first N training sentences (0: all)
	LimitTest  int    // evaluate on the first N dev and N test sentences (0: all)
	Quick      bool   // recorded: this was a smoke run
	// CheckpointDir, when set, holds end-of-epoch checkpoints (see Run).
	CheckpointDir string
}

// NewSST2Config is the SPEC §3 protocol for a method and a backbone directory, shrunk when quick.
// An empty backboneDir means TinyBERT_General_4L_312D from the Hugging Face cache,
// downloaded there when missing (see ResolveBackbone).
func NewSST2Config(method Method, seed int, backboneDir string, quick bool) (SST2Config, error) {
	c := SST2Config{Method: method, Seed: seed,
		Epochs: 3, BatchSize: 32, MaxLen: 64, LearningRate: 1e-4, WeightDecay: 0.01, AdamEpsilon: 1e-8}
	if quick {
		c.Quick, c.Epochs, c.LimitTrain, c.LimitTest = true, 1, 512, 256
	}
	b, err := ResolveBackbone(backboneDir)
	if err != nil {
		return c, err
	}
	c.Backbone, c.BackboneName = b.Dir, b.Name
	return c, c.Validate()
}

// Backbone is a resolved SST-2 backbone: where it is and what it is.
type Backbone struct{ Dir, Name string }

var resolved = map[string]Backbone{}

// ResolveBackbone finds the backbone of SST-2 runs: dir when given (checked),
// else TinyBERT_General_4L_312D in the Hugging Face cache, downloaded there
// when missing (offline, an error saying how to pass a directory instead);
// then names it (the fixture by its checksum). Results are remembered per dir.
func ResolveBackbone(dir string) (Backbone, error) {
	if b, ok := resolved[dir]; ok {
		return b, nil
	}
	found, err := tinybert.ResolveBackbone(stdcontext.Background(), dir, tinybert.HubOptions{})
	if err != nil {
		return Backbone{}, err
	}
	id, err := tinybert.IdentifyDir(found)
	if err != nil {
		return Backbone{}, err
	}
	b := Backbone{Dir: found, Name: id.Name}
	resolved[dir] = b
	return b, nil
}

// Validate reports a configuration that cannot run.
func (c SST2Config) Validate() error {
	var errs []error
	if !slices.Contains(SST2Methods, c.Method) {
		errs = append(errs, fmt.Errorf("unknown sst2 method %q (want one of %v)", c.Method, SST2Methods))
	}
	if c.Backbone == "" || c.BackboneName == "" {
		errs = append(errs, fmt.Errorf("sst2 needs a resolved backbone (directory and name; see NewSST2Config)"))
	}
	if c.Epochs <= 0 || c.BatchSize <= 0 {
		errs = append(errs, fmt.Errorf("epochs %d and batch size %d must be > 0", c.Epochs, c.BatchSize))
	}
	if c.MaxLen < 2 {
		errs = append(errs, fmt.Errorf("max length %d leaves no room for [CLS] and [SEP]", c.MaxLen))
	}
	if c.LearningRate <= 0 || c.AdamEpsilon <= 0 || c.WeightDecay < 0 {
		errs = append(errs, fmt.Errorf("learning rate and Adam epsilon must be > 0, weight decay ≥ 0"))
	}
	if c.LimitTrain < 0 || c.LimitTest < 0 || c.Seed < 0 {
		errs = append(errs, fmt.Errorf("limits and seed must be ≥ 0"))
	}
	if _, err := c.lengths(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// lengths are the padded lengths in use: Buckets (with MaxLen last), or just MaxLen.
func (c SST2Config) lengths() ([]int, error) {
	if len(c.Buckets) == 0 {
		return []int{c.MaxLen}, nil
	}
	out := slices.Clone(c.Buckets)
	if out[len(out)-1] != c.MaxLen {
		out = append(out, c.MaxLen)
	}
	for i, l := range out {
		if l < 2 || l > c.MaxLen || (i > 0 && l <= out[i-1]) {
			return nil, fmt.Errorf("buckets %v: want ascending lengths in [2, %d] (max length)", c.Buckets, c.MaxLen)
		}
	}
	if len(out) > maxBuckets {
		return nil, fmt.Errorf("buckets %v: at most %d lengths, max length %d included (each is one more training graph)", c.Buckets, maxBuckets, c.MaxLen)
	}
	return out, nil
}

// Variant names a run's departures from the protocol on TinyBERT: the
// backbone when it is another ("fixture", "custom") and the speed options
// ("cached", "bucketed"), joined with "+"; "" for a plain TinyBERT run.
func (c SST2Config) Variant() string {
	var parts []string
	switch c.BackboneName {
	case tinybert.TinyBERTGeneral4L312DRepo:
	case tinybert.FixtureBackbone:
		parts = append(parts, "fixture")
	default:
		parts = append(parts, "custom")
	}
	if c.Cache {
		parts = append(parts, "cached")
	}
	if len(c.Buckets) > 0 {
		parts = append(parts, "bucketed")
	}
	return strings.Join(parts, "+")
}

// Name is the run's label in progress output: "sst2/morph/seed0", "sst2/morph-cached/seed0".
func (c SST2Config) Name() string {
	m := string(c.Method)
	if v := c.Variant(); v != "" {
		m += "-" + v
	}
	return fmt.Sprintf("%s/%s/seed%d", SST2, m, c.Seed)
}

// FileName is the run's record file name.
func (c SST2Config) FileName() string {
	return results.FileName(SST2, string(c.Method), c.Variant(), c.Seed)
}

func (c SST2Config) configMap(data *SST2Data) map[string]any {
	lengths, _ := c.lengths()
	cfg := data.Pretrained.Config
	m := map[string]any{
		"epochs": c.Epochs, "batch_size": c.BatchSize, "max_len": c.MaxLen, "optimizer": "adamw",
		"learning_rate": c.LearningRate, "weight_decay": c.WeightDecay,
		"adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": c.AdamEpsilon,
		"top_layers": tinybert.DefaultTopLayers, "hidden_dropout": cfg.HiddenDropoutProb,
		"attention_dropout": cfg.AttentionProbsDropoutProb, "classifier_dropout": cfg.ClassifierDropoutProb(),
		"cache_frozen": c.Cache, "padded_lengths": lengths,
		"limit_train": c.LimitTrain, "limit_test": c.LimitTest, "quick": c.Quick,
		"last_batch":      "dropped per padded length (reshuffled every epoch)",
		"backbone_sha256": data.Backbone.WeightsSHA256,
	}
	if c.Method == LoRA {
		m["lora_rank"], m["lora_alpha"] = tinybert.DefaultLoRARank, tinybert.DefaultLoRAAlpha
	}
	return m
}

// SST2Data is SST-2 tokenised for one backbone, each split grouped by padded length.
type SST2Data struct {
	Pretrained       *tinybert.Pretrained
	Backbone         tinybert.Backbone
	MaxLen           int
	Lengths          []int // the padded lengths, ascending
	Train, Dev, Test *SST2Split
}

// SST2Split is one split: its examples grouped by padded length.
type SST2Split struct {
	Split   datasets.Split
	N       int
	Buckets []*SST2Bucket // ascending length; only non-empty ones
	// Truncated counts the sentences cut to MaxLen.
	Truncated int
}

// SST2Bucket holds the examples padded to one length.
type SST2Bucket struct {
	Length int
	Rows   []int32 // the split's indices of these examples, ascending
	// Tokens are the examples: Inputs [input_ids, attention_mask, token_type_ids]
	// int32 [n, Length], Labels int32 [n].
	Tokens Data
}

// LoadSST2Data reads the backbone directory and the three SST-2 splits (the labelled
// test.tsv included), tokenises them to maxLen and groups them by the given padded
// lengths (nil: one, maxLen). limitTrain and limitTest (> 0) keep the first sentences
// of the training split and of dev and test.
func LoadSST2Data(dataDir, backboneDir string, maxLen int, lengths []int, limitTrain, limitTest int) (*SST2Data, error) {
	p, err := tinybert.LoadPretrained(backboneDir)
	if err != nil {
		return nil, err
	}
	if maxLen > p.Config.MaxPositionEmbeddings {
		return nil, fmt.Errorf("sst2: max length %d exceeds the backbone's max_position_embeddings %d", maxLen, p.Config.MaxPositionEmbeddings)
	}
	b, err := tinybert.IdentifyBackbone(p)
	if err != nil {
		return nil, err
	}
	if len(lengths) == 0 {
		lengths = []int{maxLen}
	}
	d := &SST2Data{Pretrained: p, Backbone: b, MaxLen: maxLen, Lengths: lengths}
	for _, s := range []struct {
		split datasets.Split
		limit int
		dst   **SST2Split
	}{{datasets.Train, limitTrain, &d.Train}, {datasets.Dev, limitTest, &d.Dev}, {datasets.Test, limitTest, &d.Test}} {
		sentences, err := datasets.LoadSST2(dataDir, s.split)
		if err != nil {
			return nil, err
		}
		if !sentences.Labelled() {
			return nil, fmt.Errorf("sst2: the %s split has no labels (GLUE's test.tsv is unlabelled): supply a labelled %s.tsv", s.split, s.split)
		}
		text, labels := sentences.Text, sentences.Labels
		if s.limit > 0 && s.limit < len(text) {
			text, labels = text[:s.limit], labels[:s.limit]
		}
		if *s.dst, err = tokenizeSplit(p.Tokenizer, s.split, text, labels, maxLen, lengths); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// tokenizeSplit encodes the sentences and files each into the smallest length that holds it.
func tokenizeSplit(tok *tinybert.Tokenizer, split datasets.Split, text []string, labels []int32, maxLen int, lengths []int) (*SST2Split, error) {
	batch, err := tok.EncodeBatch(text, maxLen)
	if err != nil {
		return nil, err
	}
	s := &SST2Split{Split: split, N: len(text)}
	rows := make([][]int32, len(lengths))
	for i, n := range batch.NumTokens {
		b, _ := slices.BinarySearch(lengths, n)
		rows[b] = append(rows[b], int32(i))
		if batch.Truncated[i] {
			s.Truncated++
		}
	}
	for b, length := range lengths {
		n := len(rows[b])
		if n == 0 {
			continue
		}
		ids, mask, types, y := make([]int32, n*length), make([]int32, n*length), make([]int32, n*length), make([]int32, n)
		for j, row := range rows[b] {
			src := int(row) * maxLen
			copy(ids[j*length:(j+1)*length], batch.InputIDs[src:src+length])
			copy(mask[j*length:(j+1)*length], batch.AttentionMask[src:src+length])
			copy(types[j*length:(j+1)*length], batch.TokenTypeIDs[src:src+length])
			y[j] = labels[row]
		}
		s.Buckets = append(s.Buckets, &SST2Bucket{Length: length, Rows: rows[b], Tokens: Data{
			Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, n, length),
				tensors.FromFlatDataAndDimensions(mask, n, length), tensors.FromFlatDataAndDimensions(types, n, length)},
			Labels: tensors.FromFlatDataAndDimensions(y, n)}})
	}
	return s, nil
}

// sst2Batch is one training batch: a bucket and row indices within it.
type sst2Batch struct {
	bucket int
	idx    []int32
}

// sst2EpochBatches is one epoch's training batches: the examples in the order of
// datasets.Permutation(N, seed, epoch), each appended to its bucket's next batch; a
// batch is emitted when full, and each bucket's last partial batch is dropped. With one
// bucket these are exactly datasets.EpochOrder's batches.
func sst2EpochBatches(s *SST2Split, batchSize int, seed uint64, epoch int) ([]sst2Batch, error) {
	type place struct{ bucket, row int32 }
	where := make([]place, s.N)
	for b, bucket := range s.Buckets {
		for i, row := range bucket.Rows {
			where[row] = place{int32(b), int32(i)}
		}
	}
	pending := make([][]int32, len(s.Buckets))
	var out []sst2Batch
	for _, ex := range datasets.Permutation(s.N, seed, epoch) {
		w := where[ex]
		pending[w.bucket] = append(pending[w.bucket], w.row)
		if len(pending[w.bucket]) == batchSize {
			out = append(out, sst2Batch{bucket: int(w.bucket), idx: pending[w.bucket]})
			pending[w.bucket] = nil
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sst2: %d training examples make no full batch of %d at any padded length", s.N, batchSize)
	}
	return out, nil
}

// sst2Logits is the model as the Loop sees it: token inputs, or the cached frozen
// bottom's output [hidden, mask].
func sst2Logits(m *tinybert.Model, cached bool) Logits {
	return func(ctx *context.Context, in []*Node) *Node {
		ctx = ctx.In(ModelScope)
		if cached {
			return m.ForwardFrom(ctx, in[0], in[1]).Logits
		}
		return m.Logits(ctx, in[0], in[1], in[2])
	}
}

// cacheChunks are how many examples one call of the frozen bottom computes: the
// largest, and a small one for the remainder of a bucket (two graphs per length).
var cacheChunks = [2]int{128, 32}

// frozenInputs computes, for every bucket of s, the frozen bottom's output once:
// Data{Inputs: [hidden [n, L, H] float32, attention_mask], Labels}.
func frozenInputs(b backends.Backend, ctx *context.Context, m *tinybert.Model, s *SST2Split) ([]Data, error) {
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, ids, mask, types *Node) *Node {
		return m.Frozen(ctx.In(ModelScope), ids, mask, types)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	hidden := m.Config.HiddenSize
	out := make([]Data, len(s.Buckets))
	for bi, bucket := range s.Buckets {
		n, length := bucket.Tokens.N(), bucket.Length
		flat := make([][]int32, 3)
		for i := range flat {
			flat[i] = tensors.MustCopyFlatData[int32](bucket.Tokens.Inputs[i])
		}
		cache := tensors.FromShape(shapes.Make(dtypes.Float32, n, length, hidden))
		var runErr error
		tensors.MustMutableFlatData(cache, func(dst []float32) {
			for start := 0; start < n && runErr == nil; {
				size := cacheChunks[0]
				if n-start <= cacheChunks[1] {
					size = cacheChunks[1]
				}
				valid := min(size, n-start)
				args := make([]any, 3)
				for i := range flat {
					chunk := make([]int32, size*length) // a last chunk is padded with copies of its row 0
					copy(chunk, flat[i][start*length:(start+valid)*length])
					for r := valid; r < size; r++ {
						copy(chunk[r*length:(r+1)*length], chunk[:length])
					}
					args[i] = tensors.FromFlatDataAndDimensions(chunk, size, length)
				}
				res, err := exec.Exec(args...)
				if err != nil {
					runErr = err
					return
				}
				tensors.MustConstFlatData(res[0], func(h []float32) {
					copy(dst[start*length*hidden:], h[:valid*length*hidden])
				})
				res[0].FinalizeAll()
				start += valid
			}
		})
		if runErr != nil {
			return nil, runErr
		}
		out[bi] = Data{Inputs: []*tensors.Tensor{cache, bucket.Tokens.Inputs[1]}, Labels: bucket.Tokens.Labels}
		if err := out[bi].ToDevice(b); err != nil { // now, so that the host copy is freed before the next bucket
			return nil, err
		}
	}
	return out, nil
}

// tokenInputs are the buckets' token inputs, for the plain (uncached) model.
func tokenInputs(s *SST2Split) []Data {
	out := make([]Data, len(s.Buckets))
	for i, b := range s.Buckets {
		out[i] = b.Tokens
	}
	return out
}

// evaluateBuckets is accuracy and mean loss over every bucket of a split.
func evaluateBuckets(loop *Loop, buckets []Data, batchSize int) (accuracy, loss float64, err error) {
	var correct, lossSum float64
	var n int
	for _, d := range buckets {
		acc, l, err := loop.Evaluate(d, batchSize)
		if err != nil {
			return 0, 0, err
		}
		correct += float64(int64(acc*float64(d.N()) + 0.5))
		lossSum += l * float64(d.N())
		n += d.N()
	}
	return correct / float64(n), lossSum / float64(n), nil
}

// RunSST2 trains one SST-2 model by the protocol and returns its record (dataset
// "sst2", the backbone's name, dev accuracy after every epoch, test accuracy at the
// end). data may be nil (then it is loaded from cfg). A run that fails after it
// started training returns a record with Status "failed", and the error.
func RunSST2(cfg SST2Config, data *SST2Data, hooks Hooks) (*results.Record, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lengths, _ := cfg.lengths()
	if data == nil {
		var err error
		if data, err = LoadSST2Data(cfg.DataDir, cfg.Backbone, cfg.MaxLen, lengths, cfg.LimitTrain, cfg.LimitTest); err != nil {
			return nil, err
		}
	}
	if data.MaxLen != cfg.MaxLen || !slices.Equal(data.Lengths, lengths) {
		return nil, fmt.Errorf("sst2: data padded to %v, the configuration wants %v", data.Lengths, lengths)
	}
	if data.Backbone.Name != cfg.BackboneName {
		return nil, fmt.Errorf("sst2: the configuration names backbone %q, the data were tokenised for %q (build configurations with NewSST2Config)",
			cfg.BackboneName, data.Backbone.Name)
	}
	m, err := tinybert.NewModel(data.Pretrained.Config, tinybert.Method(cfg.Method))
	if err != nil {
		return nil, err
	}
	// The model's inputs: token ids, or (prepare) the frozen bottom's output computed once.
	train, dev, test := tokenInputs(data.Train), tokenInputs(data.Dev), tokenInputs(data.Test)
	s := &session{
		name: cfg.Name(), config: cfg.configMap(data), seed: cfg.Seed, epochs: cfg.Epochs, batchSize: cfg.BatchSize,
		checkpointDir: cfg.CheckpointDir, dev: true,
		record: results.Record{Dataset: SST2, Method: string(cfg.Method), Variant: cfg.Variant(), Backbone: data.Backbone.Name},
		setup: func(b backends.Backend, ctx *context.Context) (*context.Context, Logits, optimizers.Interface, error) {
			_, err := m.Setup(b, ctx.In(ModelScope), data.Pretrained.Weights)
			adamW := optimizers.Adam().LearningRate(cfg.LearningRate).Betas(0.9, 0.999).Epsilon(cfg.AdamEpsilon).
				WeightDecay(cfg.WeightDecay).Done()
			return ctx.Reuse(), sst2Logits(m, cfg.Cache), adamW, err
		},
		batches: func(epoch int) ([]batch, error) {
			sb, err := sst2EpochBatches(data.Train, cfg.BatchSize, uint64(cfg.Seed), epoch)
			batches := make([]batch, len(sb))
			for i, b := range sb {
				batches[i] = batch{data: train[b.bucket], idx: b.idx}
			}
			return batches, err
		},
		evaluate: func(loop *Loop) (float64, error) {
			accuracy, _, err := evaluateBuckets(loop, dev, cfg.BatchSize)
			return accuracy, err
		},
		finish: func(loop *Loop, ctx *context.Context, rec *results.Record) error {
			testAccuracy, _, err := evaluateBuckets(loop, test, cfg.BatchSize)
			if err != nil {
				return fmt.Errorf("test evaluation: %w", err)
			}
			rec.FinalTestAccuracy = results.Float(testAccuracy)
			rec.FinalDevAccuracy = rec.Epochs[len(rec.Epochs)-1].DevAccuracy
			if cfg.Method == Morph {
				// SST-2's morph has no core: only the wrappers' scales.
				scales, err := morph.Scales(ctx.In(ModelScope))
				if err != nil {
					return err
				}
				rec.Learned = &results.Learned{Scales: map[string]float64{}}
				for _, s := range scales {
					rec.Learned.Scales[s.Name] = s.Value
				}
			}
			return nil
		},
	}
	if cfg.Cache {
		s.prepare = func(b backends.Backend, ctx *context.Context) (err error) {
			for _, split := range []struct {
				split *SST2Split
				dst   *[]Data
			}{{data.Train, &train}, {data.Dev, &dev}, {data.Test, &test}} {
				if *split.dst, err = frozenInputs(b, ctx, m, split.split); err != nil {
					return fmt.Errorf("caching the frozen layers (%s): %w", split.split.Split, err)
				}
			}
			return nil
		}
	}
	return s.run(hooks)
}

// SST2Parameters builds the SST-2 model of method on a backbone directory (or, when
// backboneDir is "", on TinyBERT_General_4L_312D's configuration with random weights:
// no file needed) and counts its parameters, as a run would record them.
func SST2Parameters(method Method, backboneDir string) (morph.Params, error) {
	if !slices.Contains(SST2Methods, method) {
		return morph.Params{}, fmt.Errorf("unknown sst2 method %q (want one of %v)", method, SST2Methods)
	}
	cfg, sd := tinybert.TinyBERTGeneral4L312D(), tinybert.StateDict(nil)
	if backboneDir != "" {
		p, err := tinybert.LoadPretrained(backboneDir)
		if err != nil {
			return morph.Params{}, err
		}
		cfg, sd = p.Config, p.Weights
	} else {
		sd = tinybert.RandomWeights(cfg, 0)
	}
	choice, err := backend.Default()
	if err != nil {
		return morph.Params{}, err
	}
	m, err := tinybert.NewModel(cfg, tinybert.Method(method))
	if err != nil {
		return morph.Params{}, err
	}
	ctx := context.New()
	if _, err := m.Setup(choice.Backend, ctx.In(ModelScope), sd); err != nil {
		return morph.Params{}, err
	}
	return morph.CountParameters(ctx.In(ModelScope)), nil
}

// ParseLengths parses a comma-separated list of padded lengths ("16,32,64").
func ParseLengths(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 2 {
			return nil, fmt.Errorf("padded lengths %q: want comma-separated integers ≥ 2, e.g. 16,32,64", s)
		}
		out = append(out, n)
	}
	return out, nil
}
