// Package datasets turns the official files of MNIST, Fashion-MNIST, CIFAR-10
// and SST-2 into GoMLX tensors and batch orders ready for training.
//
// # Where data lives
//
// Every entry point resolves its directory with [Dir]: an explicit argument,
// else $MORPHREUSE_DATA, else ~/.cache/morphreuse/data. Inside it each set keeps
// the layout its official archive unpacks to:
//
//	mnist/                 {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (or gunzipped)
//	fashion-mnist/         the same four names
//	cifar-10-batches-bin/  data_batch_1..5.bin, test_batch.bin (or cifar-10-binary.tar.gz beside it)
//	SST-2/                 train.tsv, dev.tsv, test.tsv (or GLUE's SST-2.zip beside it)
//
// Missing files are downloaded from the publisher (then a mirror), verified
// against the published MD5/SHA-256, written under a temporary name and
// renamed, so a final name never holds a partial file. CIFAR-10's and GLUE's
// archives are unpacked member by member, refusing absolute or ".." paths,
// links, devices and oversize members, and never replacing a file that is
// already there. A data directory that cannot take a file (read-only, under a
// regular file, or full) is a [*WriteError], raised before any transfer when
// the directory is the problem; a file not on disk and not downloadable is a
// [*MissingError]. Files already present are not re-hashed on every load (the
// local copies of Fashion-MNIST and CIFAR-10 are legitimately not byte-identical
// to the official archives); they are checked structurally instead, and gzip's
// own CRC-32 is verified because every gzip stream is read to its end.
// GLUE's own SST-2 test.tsv is unlabelled: loaded from it, Sentences.Labels is
// all -1 (the copy prepared from ../shared/data carries the SST labels).
//
// # Parsing
//
// The parsers are strict: IDX magic, element type, rank, dimensions and exact
// byte count; CIFAR-10 records of exactly 3073 bytes with labels below 10;
// SST-2 TSV columns found by header name, labels exactly "0" or "1", text kept
// byte for byte. Bad input yields a [*FormatError] naming the file and the byte
// offset (line for TSV); nothing is silently dropped.
//
// # Tensors
//
// Images are float32, normalised as (pixel/255 - mean[c]) / std[c] in float32
// with the per-channel constants of SPEC §2 (see [DefaultNormalization]; override
// with [WithNormalization]), stored NHWC (channels last: what GoMLX's Convolve
// and gradfix.Conv2D take); CIFAR-10's channel-major records are transposed at
// load. [Images.Tensors] gives x as [N,H,W,C] or flattened [N,H·W·C] and y as
// [N] int32.
//
// # Batching
//
// Data stays on the device: a training loop uploads x and y once and each step
// gathers the rows named by an int32 index tensor. This package therefore only
// produces index lists:
//
//   - [EpochOrder] shuffles 0..n-1 afresh each epoch with a permutation that
//     depends only on (seed, epoch) (see [Permutation] for the exact algorithm),
//     so a run resumed at epoch k sees the order an uninterrupted run saw, and
//     cuts it into batches of exactly batchSize. The last partial batch is
//     dropped: every batch has the same shape, so one training graph serves
//     them all, and because each epoch is reshuffled every example is still
//     seen across epochs (at most batchSize-1 examples are skipped per epoch).
//   - [EvalBatches] walks 0..n-1 in order in batches of batchSize; the final
//     batch is padded with index 0 and carries the count of valid rows, so one
//     evaluation graph serves every batch and no example is skipped.
package datasets
