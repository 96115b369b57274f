package datasets

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
)

// Permutation returns a permutation of 0..n-1 that depends only on (seed, epoch):
// a Fisher–Yates shuffle (i from n-1 down to 1, swap i with j uniform in [0, i])
// of the identity, drawing j by Lemire's multiply-shift with rejection from
// PCG-DXSM as in math/rand/v2.NewPCG(seed, uint64(epoch)). The algorithm is
// spelled out here rather than left to rand.Shuffle so the order is fixed by
// this package, not by the Go release. It panics if n is negative or exceeds int32.
func Permutation(n int, seed uint64, epoch int) []int32 {
	if n < 0 || n > math.MaxInt32 {
		panic(fmt.Sprintf("datasets.Permutation: n = %d out of [0, 2^31)", n))
	}
	src := rand.NewPCG(seed, uint64(epoch))
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	for i := n - 1; i > 0; i-- {
		j := uniform(src, uint64(i+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm
}

// uniform returns an unbiased integer in [0, n) (Lemire, "Fast random integer generation in an interval", 2019).
func uniform(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		threshold := -n % n
		for lo < threshold {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// EpochOrder returns the training batches of one epoch: Permutation(n, seed,
// epoch) cut into n/batchSize batches of exactly batchSize indices; the last
// n%batchSize examples of the permutation are dropped (a different set each
// epoch). The batches share one backing array. It fails if n < batchSize.
func EpochOrder(n, batchSize int, seed uint64, epoch int) ([][]int32, error) {
	if batchSize <= 0 {
		return nil, fmt.Errorf("datasets: batch size %d, want > 0", batchSize)
	}
	if n < batchSize {
		return nil, fmt.Errorf("datasets: %d examples make no full batch of %d", n, batchSize)
	}
	perm := Permutation(n, seed, epoch)
	batches := make([][]int32, n/batchSize)
	for b := range batches {
		batches[b] = perm[b*batchSize : (b+1)*batchSize : (b+1)*batchSize]
	}
	return batches, nil
}

// EvalBatch is one evaluation batch: Indices always holds batchSize entries,
// of which the first Valid are examples and the rest padding (index 0), to be
// ignored when counting.
type EvalBatch struct {
	Indices []int32
	Valid   int
}

// EvalBatches walks 0..n-1 in order in batches of batchSize, padding the last
// one, so every example is evaluated exactly once with one batch shape.
func EvalBatches(n, batchSize int) ([]EvalBatch, error) {
	if batchSize <= 0 {
		return nil, fmt.Errorf("datasets: batch size %d, want > 0", batchSize)
	}
	if n <= 0 || n > math.MaxInt32 {
		return nil, fmt.Errorf("datasets: %d examples to evaluate, want 1 to 2^31-1", n)
	}
	count := (n + batchSize - 1) / batchSize
	all := make([]int32, count*batchSize) // padding stays 0
	for i := range n {
		all[i] = int32(i)
	}
	batches := make([]EvalBatch, count)
	for b := range batches {
		batches[b] = EvalBatch{Indices: all[b*batchSize : (b+1)*batchSize : (b+1)*batchSize], Valid: min(batchSize, n-b*batchSize)}
	}
	return batches, nil
}
