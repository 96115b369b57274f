// Package dims checks tensor dimensions read from a file before anything is
// allocated for them: a corrupt header must give an error, never a panic
// (shapes.Make panics on a negative dimension) or an overflowed size.
package dims

import "fmt"

// Count returns the number of elements of a tensor with these dimensions.
// It refuses any negative dimension (even after a zero one) and counts above
// limit, so the product cannot overflow.
func Count(dims []int, limit int64) (int64, error) {
	zero := false
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %v", d, dims)
		}
		zero = zero || d == 0
	}
	if zero {
		return 0, nil
	}
	n := int64(1)
	for _, d := range dims {
		if n > limit/int64(d) {
			return 0, fmt.Errorf("shape %v has more than %d elements", dims, limit)
		}
		n *= int64(d)
	}
	return n, nil
}
