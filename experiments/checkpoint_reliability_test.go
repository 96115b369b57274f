package experiments

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"
)

// smallContext holds one variable of n float32s.
func smallContext(n int, v float32) *context.Context {
	ctx := context.New()
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = v
	}
	ctx.VariableWithValue("w", vals)
	return ctx
}

// TestSaveCheckpointClearsStaleTemporaries: the temporary directory of a
// save interrupted by SIGKILL is removed by the next save.
func TestSaveCheckpointClearsStaleTemporaries(t *testing.T) {
	root := t.TempDir()
	stale := filepath.Join(root, ".tmp-epoch-123456")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, variablesFile), []byte("half"), 0o644)
	if err := saveCheckpoint(root, smallContext(4, 1), checkpointState{Run: "r"}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 || entries[0].Name() != "epoch-0000" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("checkpoint directory holds %v", names)
	}
}
