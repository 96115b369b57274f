package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteLoadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs") // Write creates it
	for _, r := range syntheticRecords() {
		r.StepsPerEpoch, r.Compiles = 469, 2
		r.Epochs[0].TrainLoss = math.NaN() // a diverged epoch survives the trip as NaN
		if err := Write(dir, r); err != nil {
			t.Fatalf("Write %s: %v", r.Label(), err)
		}
		got, err := Load(filepath.Join(dir, r.FileName()))
		if err != nil {
			t.Fatalf("Load %s: %v", r.Label(), err)
		}
		if !math.IsNaN(got.Epochs[0].TrainLoss) {
			t.Errorf("%s: NaN loss read back as %v", r.Label(), got.Epochs[0].TrainLoss)
		}
		got.Epochs[0].TrainLoss, r.Epochs[0].TrainLoss = 0, 0
		if !reflect.DeepEqual(got, r) {
			a, _ := json.Marshal(r)
			b, _ := json.Marshal(got)
			t.Errorf("%s: round trip differs\nwrote %s\nread  %s", r.Label(), a, b)
		}
	}
	names := dirNames(t, dir)
	if len(names) != len(syntheticRecords()) {
		t.Errorf("dir holds %d files, want %d: %v", len(names), len(syntheticRecords()), names)
	}
	for _, n := range names {
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".tmp") {
			t.Errorf("temporary file left behind: %s", n)
		}
	}
}

func TestWriteFillsVersionAndRefusesInvalid(t *testing.T) {
	dir := t.TempDir()
	r := newRecord("mnist", "baseline", 0, 0.98)
	r.FormatVersion = 0
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	got, err := Load(filepath.Join(dir, r.FileName()))
	if err != nil || got.FormatVersion != FormatVersion {
		t.Fatalf("version 0 written as %v (err %v)", got, err)
	}
	if r.FormatVersion != 0 {
		t.Error("Write modified its argument")
	}
	bad := newRecord("mnist", "baseline", 1, 97.5) // a percentage, not a fraction
	err = Write(dir, bad)
	if err == nil || !strings.Contains(err.Error(), "not a fraction") {
		t.Fatalf("invalid record: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, bad.FileName())); !os.IsNotExist(err) {
		t.Error("an invalid record was written")
	}
	newer := newRecord("mnist", "baseline", 2, 0.9)
	newer.FormatVersion = FormatVersion + 1
	if err := Write(dir, newer); err == nil {
		t.Error("wrote a record claiming a newer format version")
	}
}

// TestWriteAtomicOnFailure: when the disk fails before the rename, the old
// record is intact and no temporary file remains.
func TestWriteAtomicOnFailure(t *testing.T) {
	dir := t.TempDir()
	old := newRecord("mnist", "baseline", 0, 0.97)
	if err := Write(dir, old); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, old.FileName())
	before, _ := os.ReadFile(path)

	syncFile = func(*os.File) error { return errors.New("disk on fire") }
	defer func() { syncFile = (*os.File).Sync }()
	err := Write(dir, newRecord("mnist", "baseline", 0, 0.99))
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Write with a failing sync: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("the old record changed")
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("files left: %v", names)
	}
}

func TestWriteKeepsCompleteRecords(t *testing.T) {
	failed := func(seed int) *Record {
		r := failedRecord("mnist", "lora", seed, "interrupted")
		return r
	}
	quick := func(seed int) *Record {
		r := newRecord("mnist", "lora", seed, 0.5)
		r.Config["quick"] = true
		return r
	}
	for _, tc := range []struct {
		name          string
		first, second *Record
		refused       bool
	}{
		{"rerun replaces complete", newRecord("mnist", "lora", 0, 0.9), newRecord("mnist", "lora", 0, 0.91), false},
		{"failed does not replace complete", newRecord("mnist", "lora", 0, 0.9), failed(0), true},
		{"quick does not replace full", newRecord("mnist", "lora", 0, 0.9), quick(0), true},
		{"complete replaces failed", failed(0), newRecord("mnist", "lora", 0, 0.9), false},
		{"failed replaces failed", failed(0), failed(0), false},
		{"full replaces quick", quick(0), newRecord("mnist", "lora", 0, 0.9), false},
		{"failed replaces quick", quick(0), failed(0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Write(dir, tc.first); err != nil {
				t.Fatal(err)
			}
			err := Write(dir, tc.second)
			if tc.refused != errors.Is(err, ErrWouldReplace) {
				t.Fatalf("refused=%v, err=%v", tc.refused, err)
			}
			if !tc.refused && err != nil {
				t.Fatal(err)
			}
			got, err := Load(filepath.Join(dir, tc.first.FileName()))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.second
			if tc.refused {
				want = tc.first
			}
			if got.Status != want.Status || got.ConfigBool("quick") != want.ConfigBool("quick") {
				t.Errorf("file holds status %s quick %v, want %s quick %v", got.Status, got.ConfigBool("quick"), want.Status, want.ConfigBool("quick"))
			}
		})
	}
}

func recordJSON(t *testing.T, modify func(map[string]any)) []byte {
	t.Helper()
	data, err := json.Marshal(newRecord("mnist", "baseline", 0, 0.97))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	modify(m)
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadErrors(t *testing.T) {
	good := recordJSON(t, func(map[string]any) {})
	for _, tc := range []struct {
		name string
		data []byte
		want []string // each must appear in the error, besides the file name
	}{
		{"newer version", recordJSON(t, func(m map[string]any) { m["format_version"] = 2 }), []string{"format_version 2 is newer", "(1)"}},
		{"version zero", recordJSON(t, func(m map[string]any) { m["format_version"] = 0 }), []string{"format_version 0"}},
		{"version not a number", recordJSON(t, func(m map[string]any) { m["format_version"] = "1" }), []string{"not an integer"}},
		{"truncated", good[:len(good)/2], []string{"truncated JSON"}},
		{"broken", append([]byte("{\"format_version\": 1,, "), good[1:]...), []string{"broken JSON at byte"}},
		{"empty file", nil, []string{"truncated JSON"}},
		{"not an object", []byte(`[1, 2, 3]`), []string{"not a JSON object"}},
		{"null", []byte(`null`), []string{"not a JSON object"}},
		{"trailing garbage", append(append([]byte{}, good...), []byte(" {}")...), []string{"broken JSON"}},
		{"not a record", []byte(`{"name": "x"}`), []string{"format_version is missing"}},
		{"missing fields", recordJSON(t, func(m map[string]any) { delete(m, "seed"); delete(m, "final_test_accuracy") }),
			[]string{"missing required fields: seed, final_test_accuracy"}},
		{"unknown field", recordJSON(t, func(m map[string]any) { m["final_test_acc"] = 0.9 }), []string{`unknown field "final_test_acc"`}},
		{"accuracy out of range", recordJSON(t, func(m map[string]any) { m["final_test_accuracy"] = 97.7 }), []string{"final_test_accuracy 97.7 is not a fraction in [0,1]"}},
		{"epoch accuracy out of range", recordJSON(t, func(m map[string]any) {
			m["epochs"].([]any)[2].(map[string]any)["test_accuracy"] = -0.5
		}), []string{"epochs[2].test_accuracy -0.5"}},
		{"wrong type", recordJSON(t, func(m map[string]any) { m["seed"] = "zero" }), []string{"seed"}},
		{"null dataset", recordJSON(t, func(m map[string]any) { m["dataset"] = nil }), []string{"dataset"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mnist_baseline_seed0.json")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range append([]string{path}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("version error type", func(t *testing.T) {
		_, err := Decode(recordJSON(t, func(m map[string]any) { m["format_version"] = 7 }))
		var ve *VersionError
		if !errors.As(err, &ve) || ve.Found != 7 || ve.Supported != FormatVersion {
			t.Errorf("err %v is not a VersionError{7, %d}", err, FormatVersion)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := Load(filepath.Join(t.TempDir(), "nope.json")); err == nil || !strings.Contains(err.Error(), "nope.json") {
			t.Errorf("missing file: %v", err)
		}
	})
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	recs := syntheticRecords()
	for _, r := range recs {
		if err := Write(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	// Things LoadDir must ignore: a temp file, a subdirectory, other files.
	os.WriteFile(filepath.Join(dir, ".mnist_baseline_seed0.json.123.tmp"), []byte("{half"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o644)
	os.Mkdir(filepath.Join(dir, "old.json"), 0o755)

	got, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("loaded %d records, want %d", len(got), len(recs))
	}
	// Report order: mnist before cifar10 before sst2; baseline first; seeds ascending.
	var order []string
	for _, r := range got {
		order = append(order, r.FileName())
	}
	if order[0] != "mnist_baseline_seed0.json" || order[1] != "mnist_baseline_seed1.json" ||
		order[len(order)-1] != "sst2_morph-cached+bucketed_seed0.json" {
		t.Errorf("order: %v", order)
	}

	t.Run("broken file", func(t *testing.T) {
		bad := filepath.Join(dir, "cifar10_lora_seed9.json")
		os.WriteFile(bad, []byte(`{"format_version": 1, "status": "comp`), 0o644)
		defer os.Remove(bad)
		got, err := LoadDir(dir)
		if err == nil || got != nil {
			t.Fatalf("LoadDir with a broken file: %d records, err %v", len(got), err)
		}
		if !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("error does not name the broken file: %v", err)
		}
	})
	t.Run("misnamed file", func(t *testing.T) {
		data, _ := os.ReadFile(filepath.Join(dir, "mnist_lora_seed1.json"))
		other := filepath.Join(dir, "mnist_lora_seed1 (copy).json")
		os.WriteFile(other, data, 0o644)
		defer os.Remove(other)
		_, err := LoadDir(dir)
		if err == nil || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "mnist_lora_seed1.json") {
			t.Errorf("misnamed copy: %v", err)
		}
	})
	t.Run("missing dir", func(t *testing.T) {
		if _, err := LoadDir(filepath.Join(dir, "nope")); err == nil {
			t.Error("no error")
		}
	})
}

func TestWriteKeepsNewerRecords(t *testing.T) {
	dir := t.TempDir()
	r := newRecord("mnist", "baseline", 0, 0.9)
	path := filepath.Join(dir, r.FileName())
	newer := recordJSON(t, func(m map[string]any) { m["format_version"] = 2 })
	os.WriteFile(path, newer, 0o644)
	var ve *VersionError
	if err := Write(dir, r); !errors.As(err, &ve) {
		t.Fatalf("Write over a newer record: %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, newer) {
		t.Error("the newer record was replaced")
	}
}
