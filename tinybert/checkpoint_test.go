package tinybert

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const fixtureDir = "testdata/bert-tiny"

var fixtures struct {
	once                 sync.Once
	st, bin, legacy      StateDict
	errSt, errBin, errLg error
}

// loadFixtures reads the three fixture checkpoints once per test binary.
func loadFixtures(t *testing.T) (st, bin, legacy StateDict) {
	t.Helper()
	f := &fixtures
	f.once.Do(func() {
		f.st, f.errSt = ReadSafetensorsFile(filepath.Join(fixtureDir, SafetensorsFile))
		f.bin, f.errBin = ReadTorchFile(filepath.Join(fixtureDir, TorchFile))
		f.legacy, f.errLg = ReadTorchFile(filepath.Join(fixtureDir, "legacy_pytorch_model_no_word_embeddings.bin"))
	})
	for _, err := range []error{f.errSt, f.errBin, f.errLg} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return f.st, f.bin, f.legacy
}

// sameBits reports whether two tensors have the same dtype, shape and bit patterns.
func sameBits(a, b *Tensor) bool {
	if a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || a.Len() != b.Len() {
		return false
	}
	switch a.DType {
	case Float32:
		for i := range a.F32 {
			if math.Float32bits(a.F32[i]) != math.Float32bits(b.F32[i]) {
				return false
			}
		}
	case Float64:
		for i := range a.F64 {
			if math.Float64bits(a.F64[i]) != math.Float64bits(b.F64[i]) {
				return false
			}
		}
	case Int64:
		return slices.Equal(a.I64, b.I64)
	}
	return true
}

func TestFixtureFormatsAreBitIdentical(t *testing.T) {
	st, bin, legacy := loadFixtures(t)
	if len(st) != 76 || len(bin) != 76 {
		t.Fatalf("got %d safetensors and %d .bin tensors, the fixture README lists 76", len(st), len(bin))
	}
	for name, a := range st {
		b, ok := bin[name]
		if !ok {
			t.Errorf("%s in model.safetensors but not in pytorch_model.bin", name)
			continue
		}
		if !sameBits(a, b) {
			t.Errorf("%s differs: %v vs %v", name, a, b)
		}
	}
	// Legacy: everything but the word embeddings and the fit_denses extras.
	if len(legacy) != 73 {
		t.Errorf("legacy file has %d tensors, want 73", len(legacy))
	}
	for name, l := range legacy {
		if !sameBits(l, st[name]) {
			t.Errorf("legacy %s differs from safetensors", name)
		}
	}
	for _, absent := range []string{"bert.embeddings.word_embeddings.weight", "fit_denses.0.weight", "fit_denses.0.bias"} {
		if _, ok := legacy[absent]; ok {
			t.Errorf("legacy file should not contain %s", absent)
		}
	}
}

func TestFixtureTensorContents(t *testing.T) {
	st, _, _ := loadFixtures(t)
	pos := st["bert.embeddings.position_ids"]
	if pos.DType != Int64 || !slices.Equal(pos.Shape, []int{1, 64}) {
		t.Fatalf("position_ids: %v", pos)
	}
	for i, v := range pos.I64 {
		if v != int64(i) {
			t.Fatalf("position_ids[%d] = %d, want arange(64)", i, v)
		}
	}
	for name, shape := range map[string][]int{
		"bert.embeddings.word_embeddings.weight":               {30522, 32},
		"bert.encoder.layer.2.intermediate.dense.weight":       {64, 32},
		"bert.encoder.layer.2.output.dense.weight":             {32, 64},
		"fit_denses.0.weight":                                  {768, 32},
		"classifier.weight":                                    {2, 32},
		"bert.encoder.layer.3.attention.output.LayerNorm.bias": {32},
	} {
		if got := st[name]; got == nil || !slices.Equal(got.Shape, shape) || got.DType != Float32 {
			t.Errorf("%s: got %v, want float32%v", name, got, shape)
		}
	}
	// The README says the [PAD] row of the word embeddings was set to non-zero values
	// and LayerNorm weights to 1+0.1*N(0,1): check we did not read zeros or ones.
	we := st["bert.embeddings.word_embeddings.weight"].F32
	if slices.Equal(we[:32], make([]float32, 32)) {
		t.Error("word embedding row 0 is all zeros")
	}
	ln := st["bert.embeddings.LayerNorm.weight"].F32
	var mean float64
	for _, v := range ln {
		mean += float64(v) / float64(len(ln))
	}
	if math.Abs(mean-1) > 0.1 || slices.Equal(ln, slices.Repeat([]float32{1}, 32)) {
		t.Errorf("LayerNorm weight mean %v: not the fixture's 1+0.1*N(0,1)", mean)
	}
}

func TestGoldensSafetensors(t *testing.T) {
	g, err := ReadSafetensorsFile(filepath.Join(fixtureDir, "goldens.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	loss := g["loss"]
	if loss == nil || loss.DType != Float32 || len(loss.Shape) != 0 || loss.Len() != 1 {
		t.Fatalf("loss: %v", loss)
	}
	if math.Abs(float64(loss.F32[0])-0.68842417) > 1e-7 {
		t.Errorf("golden loss %v, README says 0.68842417", loss.F32[0])
	}
	if f := g["fp64_reference.loss"]; f == nil || f.DType != Float64 || math.Abs(f.F64[0]-0.68842417) > 1e-6 {
		t.Errorf("fp64 loss: %v", f)
	}
	if ids := g["input_ids"]; ids == nil || ids.DType != Int64 || !slices.Equal(ids.Shape, []int{16, 64}) || ids.I64[0] != 101 {
		t.Errorf("input_ids: %v", ids)
	}
}

func TestExpectedKeysAndCheckOnFixture(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join(fixtureDir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	keys := cfg.ExpectedKeys()
	if len(keys) != 5+16*4+2+2 {
		t.Errorf("%d expected keys, want 73", len(keys))
	}
	st, _, _ := loadFixtures(t)
	for _, k := range keys {
		got := st[k.Name]
		if got == nil || !slices.Equal(got.Shape, k.Shape) {
			t.Errorf("expected key %s %v, fixture has %v", k.Name, k.Shape, got)
		}
	}
	rep, err := CheckKeys(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bert.embeddings.position_ids", "fit_denses.0.bias", "fit_denses.0.weight"}
	if !slices.Equal(rep.Unused, want) || rep.InitHead {
		t.Errorf("report %+v, want unused %v and a head", rep, want)
	}
}

// without returns a shallow copy of sd minus the named keys.
func without(sd StateDict, names ...string) StateDict {
	out := StateDict{}
	for k, v := range sd {
		if !slices.Contains(names, k) {
			out[k] = v
		}
	}
	return out
}

func TestCheckKeysProblems(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join(fixtureDir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	st, _, _ := loadFixtures(t)

	// A pretrained backbone: no head.
	rep, err := CheckKeys(cfg, without(st, "classifier.weight", "classifier.bias"))
	if err != nil || !rep.InitHead || !strings.Contains(rep.String(), "initialise the head") {
		t.Errorf("no head: %v, %v", rep, err)
	}

	bad := without(st, "bert.encoder.layer.1.output.dense.bias", "classifier.bias")
	bad["bert.pooler.dense.weight"] = &Tensor{DType: Float32, Shape: []int{16, 32}, F32: make([]float32, 16*32)}
	bad["bert.embeddings.token_type_embeddings.weight"] = &Tensor{DType: Int64, Shape: []int{2, 32}, I64: make([]int64, 64)}
	_, err = CheckKeys(cfg, bad)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"missing bert.encoder.layer.1.output.dense.bias (model needs [32])",
		"bert.pooler.dense.weight: checkpoint has shape [16 32], model needs [32 32]",
		"bert.embeddings.token_type_embeddings.weight: checkpoint has int64, model needs float32",
		"classifier head is incomplete: missing [classifier.bias]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	// A head for 3 labels against a 2-label config.
	three := without(st)
	three["classifier.weight"] = &Tensor{DType: Float32, Shape: []int{3, 32}, F32: make([]float32, 96)}
	if _, err := CheckKeys(cfg, three); err == nil || !strings.Contains(err.Error(), "num_labels 2") {
		t.Errorf("3-label head: %v", err)
	}

	// A config that does not match at all: the message stays bounded.
	big := TinyBERTGeneral4L312D()
	_, err = CheckKeys(big, st)
	if err == nil || !strings.Contains(err.Error(), "... and") || strings.Count(err.Error(), "\n") > maxKeyProblems+2 {
		t.Errorf("mismatched config: %v", err)
	}
}

func TestNormalizeKeys(t *testing.T) {
	x := &Tensor{DType: Float32, Shape: []int{1}, F32: []float32{1}}
	got, err := NormalizeKeys(StateDict{
		"embeddings.LayerNorm.gamma":                x,
		"embeddings.LayerNorm.beta":                 x,
		"encoder.layer.0.output.LayerNorm.gamma":    x,
		"pooler.dense.weight":                       x,
		"classifier.weight":                         x,
		"cls.predictions.transform.LayerNorm.gamma": x,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bert.embeddings.LayerNorm.bias", "bert.embeddings.LayerNorm.weight",
		"bert.encoder.layer.0.output.LayerNorm.weight", "bert.pooler.dense.weight",
		"classifier.weight", "cls.predictions.transform.LayerNorm.weight"}
	if !slices.Equal(got.Names(), want) {
		t.Errorf("got %v\nwant %v", got.Names(), want)
	}
	// Already prefixed keys keep their names; a clash is an error.
	if _, err := NormalizeKeys(StateDict{"bert.x.LayerNorm.gamma": x, "bert.x.LayerNorm.weight": x}); err == nil {
		t.Error("gamma and weight of the same LayerNorm should clash")
	}
}

func TestNumParametersMatchesSpec(t *testing.T) {
	c := TinyBERTGeneral4L312D()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// Hand count: embeddings 30522*312 + 512*312 + 2*312 + 2*312 = 9,683,856; per layer
	// 4*(312*312+312) + 2*624 + (312*1200+1200) + (1200*312+312) = 1,142,184; pooler
	// 97,656; classifier 2*312+2 = 626.
	if got, want := c.NumParameters(false), int64(9683856+4*1142184+97656); got != want {
		t.Errorf("backbone parameters %d, want %d", got, want)
	}
	if got, want := c.NumParameters(true)-c.NumParameters(false), int64(626); got != want {
		t.Errorf("head parameters %d, want %d", got, want)
	}
	// SPEC §3: the baseline trains the top 2 layers and the classifier: 2,284,994.
	var top2 int64
	for _, k := range c.ExpectedKeys() {
		if strings.HasPrefix(k.Name, "bert.encoder.layer.2.") || strings.HasPrefix(k.Name, "bert.encoder.layer.3.") || k.Head {
			n := int64(1)
			for _, d := range k.Shape {
				n *= int64(d)
			}
			top2 += n
		}
	}
	if top2 != 2284994 {
		t.Errorf("top-2-layers + head = %d, SPEC says 2,284,994", top2)
	}
}

func TestLoadPretrained(t *testing.T) {
	p, err := LoadPretrained(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p.WeightsFile) != SafetensorsFile {
		t.Errorf("read %s, want model.safetensors preferred", p.WeightsFile)
	}
	if p.Config.HiddenSize != 32 || p.Tokenizer.Vocab.Len() != 30522 || len(p.Keys.Unused) != 3 {
		t.Errorf("unexpected %+v", p)
	}

	// Without model.safetensors, pytorch_model.bin is used and gives the same tensors.
	dir := t.TempDir()
	for _, f := range []string{ConfigFile, VocabFile, TorchFile} {
		abs, _ := filepath.Abs(filepath.Join(fixtureDir, f))
		if err := os.Symlink(abs, filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	q, err := LoadPretrained(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(q.WeightsFile) != TorchFile {
		t.Errorf("read %s", q.WeightsFile)
	}
	for name, a := range p.Weights {
		if !sameBits(a, q.Weights[name]) {
			t.Errorf("%s differs between the two loads", name)
		}
	}

	// Clear errors for incomplete directories.
	empty := t.TempDir()
	if _, err := LoadPretrained(empty); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("empty dir: %v", err)
	}
	os.Remove(filepath.Join(dir, TorchFile))
	if _, err := LoadPretrained(dir); err == nil || !strings.Contains(err.Error(), "no model.safetensors or pytorch_model.bin") {
		t.Errorf("no weights: %v", err)
	}
	if _, err := LoadPretrained(filepath.Join(dir, "nope")); err == nil {
		t.Error("missing dir accepted")
	}
}
