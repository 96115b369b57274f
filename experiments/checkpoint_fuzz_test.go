package experiments

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadCheckpoint: a damaged checkpoint (state.json and variables.bin
// from disk) is an error that says so, never a panic or a huge allocation;
// what loads has exactly the bytes its shapes need. The literal @SHA@ in
// state.json is replaced by the checksum of variables.bin, so that the
// fuzzer gets past that check.
func FuzzLoadCheckpoint(f *testing.F) {
	vars := make([]byte, 24)
	f.Add([]byte(`{"format_version":1,"run":"r","variables":[{"name":"/w","dtype":"Float32","dims":[2,2],"offset":0,"length":16},`+
		`{"name":"/s","dtype":"Int64","dims":[],"offset":16,"length":8}],"data_sha256":"@SHA@"}`), vars)
	f.Add([]byte(`{"format_version":1,"variables":[{"name":"/w","dtype":"Float32","dims":[-2,-2],"offset":0,"length":16}],"data_sha256":"@SHA@"}`), vars)
	f.Add([]byte(`{"format_version":1,"variables":[{"name":"/w","dtype":"Float32","dims":[4294967296,4294967296],"offset":0,"length":0}],"data_sha256":"@SHA@"}`), vars)
	f.Add([]byte(`{"format_version":1,"variables":[{"name":"/w","dtype":"Float32","dims":[1],"offset":9223372036854775807,"length":4}],"data_sha256":"@SHA@"}`), vars)
	f.Fuzz(func(t *testing.T, state, vars []byte) {
		sum := sha256.Sum256(vars)
		state = bytes.ReplaceAll(state, []byte("@SHA@"), []byte(hex.EncodeToString(sum[:])))
		root := t.TempDir()
		dir := filepath.Join(root, "epoch-0001")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, stateFile), state, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, variablesFile), vars, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := loadCheckpoint(root)
		if err != nil {
			if !strings.Contains(err.Error(), "checkpoint "+dir+" is damaged") {
				t.Fatalf("error %v does not say the checkpoint is damaged", err)
			}
			return
		}
		for _, v := range c.state.Variables {
			if value, ok := c.values[v.Name]; ok && int64(value.Shape().Memory()) != v.Length {
				t.Fatalf("%s: shape %s for %d bytes", v.Name, value.Shape(), v.Length)
			}
		}
	})
}
