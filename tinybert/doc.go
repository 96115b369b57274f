// Package tinybert reads Hugging Face BERT checkpoints (TinyBERT_General_4L_312D and
// friends) and tokenizes text exactly like the slow transformers BertTokenizer, so the
// GoMLX encoder built on top of it sees the same weights and ids as PyTorch would.
//
// What is here:
//   - Config: config.json with HF defaults, validated once (Config.Validate) so that an
//     impossible model fails before any graph is built; TinyBERTGeneral4L312D() needs no file.
//   - Checkpoints: model.safetensors (ReadSafetensors) and pytorch_model.bin in both the
//     zip format and the legacy pre-1.6 format (ReadTorch). All readers are strict: every
//     size read from a file is checked against the file before anything is allocated, and
//     malformed input gives an error, never a panic. The pickle reader is a small VM that
//     only knows the opcodes and the handful of globals that state dicts use: anything
//     else (os.system, builtins.eval, ...) is refused by name, nothing is ever executed.
//   - Key mapping: NormalizeKeys (TF-era LayerNorm.gamma/beta names, missing "bert."
//     prefix), ExpectedKeys (the exact keys and HF shapes a Config needs) and CheckKeys
//     (what is missing, mis-shaped or unused, and whether the classifier head must be
//     initialised).
//   - Tokenizer: vocab.txt + BERT uncased basic tokenization + greedy WordPiece, matching
//     transformers 4.29 BertTokenizer token for token (see tokenizer.go for the details
//     that matter), with single/pair encoding, longest_first truncation and padding.
//   - Hub: ResolveBackbone finds a backbone directory: an explicit local directory, the
//     Hugging Face cache (HF_HUB_CACHE / HF_HOME / ~/.cache/huggingface/hub) or a
//     checksummed, atomic download from the hub.
//   - Encoder (encoder.go): BertForSequenceClassification in GoMLX — embeddings, post-LN
//     layers with additive-mask attention and erf GELU, pooler, classifier — matching
//     transformers within the fixture's tolerances (encoder_test.go: every golden).
//     VariableFor maps checkpoint keys onto the model's variables.
//   - Surgery (surgery.go): SPEC §3's methods on the top layers — Baseline, Morph
//     (morph.LinearWrapperShared) and LoRA (lora.Apply) — with their trainable sets;
//     Model.Setup loads a checkpoint (or RandomWeights) into a context. The frozen
//     bottom (Frozen) can be computed once and training started from it (ForwardFrom).
//   - IdentifyBackbone names the backbone of a run: the bert-tiny test fixture is never
//     reported as TinyBERT.
//
// LoadPretrained ties these together for a model directory. In outline:
//
//	p, err := tinybert.LoadPretrained(dir)
//	m, err := tinybert.NewModel(p.Config, tinybert.LoRA)
//	_, err = m.Setup(backend, ctx.In("model"), p.Weights) // seed ctx's RNG first
//	logits := m.Logits(ctx.Reuse().In("model"), ids, mask, types) // in a graph function
package tinybert
