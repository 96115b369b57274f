package results

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzLoadRecord: Load never panics; whatever it accepts is valid, survives
// a write/read round trip unchanged, and renders into a well-formed report.
// Load is os.ReadFile + Decode, so the fuzzer calls Decode (no disk I/O per input).
func FuzzLoadRecord(f *testing.F) {
	for _, r := range syntheticRecords() {
		data, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/3])
	}
	f.Add([]byte(`{"format_version": 2}`))
	f.Add([]byte(`{"format_version": 1e400}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"format_version":1,"epochs":[{"train_loss":null}]}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Decode(data)
		if err != nil {
			if rec != nil {
				t.Fatal("a record and an error")
			}
			return
		}
		if err := Validate(rec); err != nil {
			t.Fatalf("Decode accepted an invalid record: %v", err)
		}
		again, err := json.Marshal(rec)
		if err != nil {
			t.Fatalf("an accepted record cannot be written: %v", err)
		}
		rec2, err := Decode(again)
		if err != nil {
			t.Fatalf("a written record cannot be read: %v\n%s", err, again)
		}
		third, _ := json.Marshal(rec2)
		if !bytes.Equal(again, third) {
			t.Fatalf("round trip changed the record:\n%s\n%s", again, third)
		}
		page, err := Report([]*Record{rec}, ReportOptions{Reference: &PyTorchReference, Generated: generated})
		if err != nil {
			t.Fatalf("Report: %v", err)
		}
		wellFormed(t, string(page))
		if _, err := README([]*Record{rec}, ReportOptions{}); err != nil {
			t.Fatalf("README: %v", err)
		}
	})
}
