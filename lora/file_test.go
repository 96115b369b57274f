package lora

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	x := randInput(7, true, 4, 6)
	trained := newModel(t, 7, mlp(5), x)
	if _, err := Apply(trained.ctx, Config{Rank: 2, Alpha: 4, Targets: []string{"fc*"}}); err != nil {
		t.Fatal(err)
	}
	trained.run(t, x)
	trained.randomize(t, 4, AVar, BVar)
	trained.set(t, "head", "weights", randInput(8, true, 3, 2)) // The head trains too: it must travel with the adapter.
	want := trained.runF64(t, x)
	dir := filepath.Join(t.TempDir(), "adapter")
	if err := Save(trained.ctx, dir); err != nil {
		t.Fatal(err)
	}

	// Exactly two files, no temporaries left behind.
	entries, _ := os.ReadDir(dir)
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	if !slices.Equal(files, []string{ConfigFile, WeightsFile}) {
		t.Errorf("files %v, want %v", files, []string{ConfigFile, WeightsFile})
	}
	var cfg fileConfig
	js, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err := json.Unmarshal(js, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.FormatVersion != 1 || cfg.Rank != 2 || cfg.Alpha != 4 || cfg.Scaling != 2 || len(cfg.Wrapped) != 2 ||
		cfg.Wrapped[0].Name != "fc1" || cfg.Wrapped[0].In != 6 || cfg.Wrapped[0].Out != 5 || len(cfg.Wrapped[0].WeightsSHA256) != 64 ||
		!slices.Equal(cfg.ModulesToSave, []string{"head/weights"}) {
		t.Errorf("adapter_config.json:\n%s", js)
	}

	// A fresh base from the same seed (what the adapter was trained on) + Load = the trained model.
	fresh := newModel(t, 7, mlp(5), x)
	wrapped, err := Load(fresh.ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(wrapped, []string{"fc1", "fc2"}) {
		t.Errorf("Load wrapped %v", wrapped)
	}
	assertClose(t, "loaded model", fresh.runF64(t, x), want, 0)
	if fresh.variable(t, "fc1", "weights").Trainable || !fresh.variable(t, "fc1", AVar).Trainable {
		t.Error("Load should freeze the base and train the adapter, as Apply")
	}
}

func TestLoadRefusesAMismatch(t *testing.T) {
	x := randInput(7, true, 4, 6)
	m := newModel(t, 7, mlp(5), x)
	if _, err := Apply(m.ctx, Config{Rank: 2, Alpha: 4, Targets: []string{"fc1", "fc2"}}); err != nil {
		t.Fatal(err)
	}
	m.run(t, x)
	saved := filepath.Join(t.TempDir(), "adapter")
	if err := Save(m.ctx, saved); err != nil {
		t.Fatal(err)
	}
	// copyWith copies the adapter, letting edit change the config JSON or the weights bytes.
	copyWith := func(t *testing.T, editConfig func(map[string]any), editWeights func([]byte)) string {
		dir := t.TempDir()
		js, _ := os.ReadFile(filepath.Join(saved, ConfigFile))
		weights, _ := os.ReadFile(filepath.Join(saved, WeightsFile))
		if editConfig != nil {
			var cfg map[string]any
			json.Unmarshal(js, &cfg)
			editConfig(cfg)
			js, _ = json.Marshal(cfg)
		}
		if editWeights != nil {
			editWeights(weights)
		}
		os.WriteFile(filepath.Join(dir, ConfigFile), js, 0o644)
		os.WriteFile(filepath.Join(dir, WeightsFile), weights, 0o644)
		return dir
	}
	cases := []struct {
		name    string
		seed    int64
		hidden  int
		dir     func(t *testing.T) string
		wantErr string
	}{
		{name: "other base weights (another seed)", seed: 8, hidden: 5,
			dir: func(*testing.T) string { return saved }, wantErr: `layer "fc1": base weights differ`},
		{name: "other shapes", seed: 7, hidden: 9,
			dir: func(*testing.T) string { return saved }, wantErr: `layer "fc1": base weights are Float32[6 9], the adapter was trained on Float32[6 5]`},
		{name: "newer format version", seed: 7, hidden: 5,
			dir:     func(t *testing.T) string { return copyWith(t, func(c map[string]any) { c["format_version"] = 2 }, nil) },
			wantErr: "format_version 2, newer than this library reads (1)"},
		{name: "weights from another save", seed: 7, hidden: 5,
			dir:     func(t *testing.T) string { return copyWith(t, nil, func(w []byte) { w[len(w)-1] ^= 1 }) },
			wantErr: "does not match the SHA-256"},
		{name: "a layer the model does not have", seed: 7, hidden: 5,
			dir: func(t *testing.T) string {
				return copyWith(t, func(c map[string]any) { c["wrapped"].([]any)[1].(map[string]any)["name"] = "fc9" }, nil)
			},
			wantErr: `layer "fc9": no such lora.Dense layer in this model (it has: fc1, fc2)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := newModel(t, c.seed, mlp(c.hidden), x)
			before := target.runF64(t, x)
			_, err := Load(target.ctx, c.dir(t))
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Load error = %v\nwant it to contain %q", err, c.wantErr)
			}
			// Nothing changed.
			if Wrapped(target.ctx) != nil || !target.variable(t, "fc1", "weights").Trainable ||
				target.root.InspectVariableIfLoaded("/model/fc1", AVar) != nil {
				t.Error("a failed Load changed the model")
			}
			assertClose(t, "output after failed Load", target.runF64(t, x), before, 0)
		})
	}
}

func TestSaveNeedsAnAdapter(t *testing.T) {
	m := newModel(t, 0, mlp(5), randInput(1, true, 1, 6))
	if err := Save(m.ctx, t.TempDir()); err == nil || !strings.Contains(err.Error(), "no adapter applied") {
		t.Errorf("Save without an adapter: %v", err)
	}
}
