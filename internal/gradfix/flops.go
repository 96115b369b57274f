package gradfix

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// MatmulOp is one matrix product of a graph (a Dot or DotGeneral node), with
// what is needed to time it alone (the kernel ceiling of a step is the sum
// of its products timed in isolation).
type MatmulOp struct {
	LHS, RHS                 shapes.Shape
	LhsContracting, LhsBatch []int
	RhsContracting, RhsBatch []int
	FLOPs                    int64 // 2 · output size · contracted size
}

// Key identifies ops with the same shapes and axes.
func (m MatmulOp) Key() string {
	return fmt.Sprintf("%s·%s c%v b%v / c%v b%v", m.LHS, m.RHS, m.LhsContracting, m.LhsBatch, m.RhsContracting, m.RhsBatch)
}

// Build recreates the product on new operands of the same shapes.
func (m MatmulOp) Build(lhs, rhs *Node) *Node {
	return DotGeneral(lhs, m.LhsContracting, m.LhsBatch, rhs, m.RhsContracting, m.RhsBatch)
}

// MatmulOps lists the matrix products that computing roots needs (a graph
// may hold more nodes than its outputs use; backends skip those). For a
// training step the roots are the loss and the updated variables: a frozen
// weight's gradient product is then simply absent.
func MatmulOps(roots ...*Node) ([]MatmulOp, error) {
	var ops []MatmulOp
	for _, n := range Reachable(roots) {
		var ax dotAxes
		switch n.Type() {
		case NodeTypeDotGeneral:
			var err error
			if ax, err = readDotAxes(n); err != nil {
				return nil, err
			}
		case NodeTypeDot:
			// graph.Dot contracts lhs's last axis with rhs's first.
			ax = dotAxes{lhsContracting: []int{n.Inputs()[0].Rank() - 1}, rhsContracting: []int{0}}
		default:
			continue
		}
		lhs, rhs := n.Inputs()[0].Shape(), n.Inputs()[1].Shape()
		contracted := int64(1)
		for _, a := range ax.lhsContracting {
			contracted *= int64(lhs.Dimensions[a])
		}
		ops = append(ops, MatmulOp{LHS: lhs, RHS: rhs,
			LhsContracting: ax.lhsContracting, LhsBatch: ax.lhsBatch,
			RhsContracting: ax.rhsContracting, RhsBatch: ax.rhsBatch,
			FLOPs: 2 * int64(n.Shape().Size()) * contracted})
	}
	return ops, nil
}

// TotalFLOPs sums the FLOPs of ops.
func TotalFLOPs(ops []MatmulOp) int64 {
	var sum int64
	for _, op := range ops {
		sum += op.FLOPs
	}
	return sum
}

// Reachable returns the nodes roots depend on (roots included), each once: what a backend executes.
func Reachable(roots []*Node) []*Node {
	seen := map[*Node]bool{}
	var out []*Node
	stack := append([]*Node(nil), roots...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == nil || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
		stack = append(stack, n.Inputs()...)
	}
	return out
}
