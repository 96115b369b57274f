package datasets

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func isPermutation(p []int32) bool {
	seen := make([]bool, len(p))
	for _, v := range p {
		if v < 0 || int(v) >= len(p) || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}

func TestPermutation(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 1000} {
		if p := Permutation(n, 3, 1); len(p) != n || !isPermutation(p) {
			t.Fatalf("Permutation(%d) = %v is not a permutation", n, p)
		}
	}
	a, b := Permutation(1000, 7, 4), Permutation(1000, 7, 4)
	if !slices.Equal(a, b) {
		t.Fatal("same (seed, epoch) gave different orders")
	}
	if slices.Equal(a, Permutation(1000, 7, 5)) || slices.Equal(a, Permutation(1000, 8, 4)) {
		t.Fatal("another epoch or seed gave the same order")
	}
	// Frozen: the order is part of the reproducibility contract; if this changes, old runs no longer replay.
	if got := fmt.Sprint(Permutation(10, 0, 0), Permutation(10, 42, 3)); got != goldenPermutations {
		t.Fatalf("Permutation changed:\n got %s\nwant %s", got, goldenPermutations)
	}
}

// goldenPermutations was computed by an independent Python implementation of
// the documented algorithm (128-bit PCG-DXSM step, Lemire bounded draw, Fisher–Yates from the top).
const goldenPermutations = "[4 8 1 5 0 7 3 9 6 2] [9 3 2 1 6 5 4 0 8 7]"

// TestPermutationUniform checks every ordering of 3 items is about equally likely over many (seed, epoch) pairs.
func TestPermutationUniform(t *testing.T) {
	counts := map[string]int{}
	const trials = 60000
	for i := range trials {
		counts[fmt.Sprint(Permutation(3, uint64(i/100), i%100))]++
	}
	if len(counts) != 6 {
		t.Fatalf("%d distinct orderings of 3, want 6: %v", len(counts), counts)
	}
	mean := float64(trials) / 6
	sigma := math.Sqrt(trials * (1.0 / 6) * (5.0 / 6))
	for k, c := range counts {
		if math.Abs(float64(c)-mean) > 5*sigma {
			t.Errorf("ordering %s seen %d times, want %.0f ± %.0f", k, c, mean, 5*sigma)
		}
	}
}

func TestEpochOrder(t *testing.T) {
	batches, err := EpochOrder(1003, 100, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 10 {
		t.Fatalf("%d batches, want 10 (last partial batch dropped)", len(batches))
	}
	var all []int32
	for _, b := range batches {
		if len(b) != 100 || cap(b) != 100 {
			t.Fatalf("batch of len %d cap %d, want 100", len(b), cap(b))
		}
		all = append(all, b...)
	}
	if perm := Permutation(1003, 1, 2); !slices.Equal(all, perm[:1000]) {
		t.Fatal("batches are not the epoch's permutation in order")
	}
	// Resuming at epoch 2 needs nothing but (seed, epoch).
	again, _ := EpochOrder(1003, 100, 1, 2)
	if !slices.EqualFunc(batches, again, slices.Equal) {
		t.Fatal("EpochOrder not reproducible")
	}
	// Across epochs every example is seen, though each epoch drops 3.
	seen := map[int32]bool{}
	for epoch := range 20 {
		b, _ := EpochOrder(1003, 100, 1, epoch)
		for _, batch := range b {
			for _, i := range batch {
				seen[i] = true
			}
		}
	}
	if len(seen) != 1003 {
		t.Fatalf("%d of 1003 examples seen in 20 epochs", len(seen))
	}
	if b, err := EpochOrder(256, 128, 0, 0); err != nil || len(b) != 2 {
		t.Fatalf("exact multiple: %d batches, %v", len(b), err)
	}
	_, err = EpochOrder(100, 128, 0, 0)
	wantErr(t, err, "100 examples make no full batch of 128")
	_, err = EpochOrder(100, 0, 0, 0)
	wantErr(t, err, "batch size 0")
}

func TestEvalBatches(t *testing.T) {
	for _, tc := range []struct{ n, bs, count, lastValid int }{{10, 4, 3, 2}, {8, 4, 2, 4}, {3, 128, 1, 3}, {1, 1, 1, 1}} {
		batches, err := EvalBatches(tc.n, tc.bs)
		if err != nil {
			t.Fatal(err)
		}
		if len(batches) != tc.count || batches[len(batches)-1].Valid != tc.lastValid {
			t.Fatalf("n=%d bs=%d: %d batches, last valid %d; want %d, %d", tc.n, tc.bs, len(batches), batches[len(batches)-1].Valid, tc.count, tc.lastValid)
		}
		next := int32(0)
		for _, b := range batches {
			if len(b.Indices) != tc.bs {
				t.Fatalf("batch of %d indices, want %d", len(b.Indices), tc.bs)
			}
			for j, i := range b.Indices {
				if j < b.Valid {
					if i != next {
						t.Fatalf("index %d, want %d (in order)", i, next)
					}
					next++
				} else if i != 0 {
					t.Fatalf("padding index %d, want 0", i)
				}
			}
		}
		if int(next) != tc.n {
			t.Fatalf("%d examples covered, want %d", next, tc.n)
		}
	}
	_, err := EvalBatches(0, 4)
	wantErr(t, err, "0 examples")
	_, err = EvalBatches(4, -1)
	wantErr(t, err, "batch size -1")
}
