package dims

import (
	"math"
	"testing"
)

func TestCount(t *testing.T) {
	for _, c := range []struct {
		dims  []int
		limit int64
		want  int64
		ok    bool
	}{
		{nil, 10, 1, true}, // a scalar
		{[]int{2, 3}, 6, 6, true},
		{[]int{2, 3}, 5, 0, false},
		{[]int{0, 7}, 0, 0, true},
		{[]int{-1}, 10, 0, false},
		{[]int{0, -1}, 10, 0, false}, // the zero must not hide the negative (a fuzzer found this)
		{[]int{-1, 0}, 10, 0, false},
		{[]int{math.MaxInt, math.MaxInt}, math.MaxInt64, 0, false}, // would overflow
		{[]int{1 << 20, 1 << 20}, 1 << 40, 1 << 40, true},
	} {
		got, err := Count(c.dims, c.limit)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Count(%v, %d) = %d, %v; want %d, ok=%v", c.dims, c.limit, got, err, c.want, c.ok)
		}
	}
}
