package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// maxRecordBytes bounds what Load reads: a record is a few KiB.
const maxRecordBytes = 16 << 20

// VersionError is returned for a record written by a newer program.
type VersionError struct {
	Found, Supported int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("format_version %d is newer than this program reads (%d): update morphreuse-go to read it", e.Found, e.Supported)
}

// ErrWouldReplace is returned by Write instead of replacing a complete
// full-protocol record with a failed run or a run with caveats (quick, limited, fixture).
var ErrWouldReplace = errors.New("would replace a complete full-protocol record")

// requiredFields are the keys every record must have, whatever their values.
var requiredFields = []string{
	"format_version", "status", "dataset", "method", "seed", "backend", "config",
	"epochs", "final_test_accuracy", "trainable_params", "total_params",
	"wall_seconds", "peak_rss_bytes", "machine", "commit", "started_at", "finished_at",
}

// Decode parses and validates one record. Load is Decode of a file's content;
// its errors name the file, Decode's do not.
func Decode(data []byte) (*Record, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		if strings.Contains(err.Error(), "unexpected end of JSON input") {
			return nil, fmt.Errorf("truncated JSON (%d bytes): %v", len(data), err)
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("broken JSON at byte %d of %d: %v", se.Offset, len(data), err)
		}
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if top == nil {
		return nil, errors.New("not a JSON object: null")
	}
	rawVersion, ok := top["format_version"]
	if !ok {
		return nil, errors.New("not a run record: format_version is missing")
	}
	var version int
	if err := json.Unmarshal(rawVersion, &version); err != nil {
		return nil, fmt.Errorf("format_version %s is not an integer", truncate(string(rawVersion), 40))
	}
	if version > FormatVersion {
		return nil, &VersionError{Found: version, Supported: FormatVersion}
	}
	if version < 1 {
		return nil, fmt.Errorf("format_version %d is not a valid version (want %d)", version, FormatVersion)
	}
	var missing []string
	for _, k := range requiredFields {
		if _, ok := top[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing required fields: %s", strings.Join(missing, ", "))
	}
	rec := new(Record)
	if err := strictUnmarshal(data, rec); err != nil {
		return nil, err
	}
	if err := Validate(rec); err != nil {
		return nil, fmt.Errorf("invalid record: %w", err)
	}
	return rec, nil
}

// strictUnmarshal is json.Unmarshal refusing unknown fields (a typo in a
// field name must not silently drop a measurement).
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// Load reads one record file strictly: broken or truncated JSON, a newer
// format_version, a missing required field or an accuracy outside [0,1] is an
// error naming the file.
func Load(path string) (*Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecordBytes+1))
	if err != nil {
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	if len(data) > maxRecordBytes {
		return nil, fmt.Errorf("results: %s: larger than %d bytes, not a run record", path, maxRecordBytes)
	}
	rec, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	return rec, nil
}

// LoadDir loads every *.json record of a directory (not its subdirectories),
// in report order. Any broken record, or one whose file name is not
// [FileName] of its content, is an error naming it: nothing is skipped
// silently. Hidden files (such as Write's temporary files) are ignored.
func LoadDir(dir string) ([]*Record, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	var recs []*Record
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(dir, name)
		rec, err := Load(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if want := rec.FileName(); want != name {
			errs = append(errs, fmt.Errorf("results: %s: holds %s, whose file name is %s", path, rec.Label(), want))
			continue
		}
		recs = append(recs, rec)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	SortRecords(recs)
	return recs, nil
}

// SortRecords orders records as reports do: data set, method, variant,
// backbone, seed.
func SortRecords(recs []*Record) {
	sort.SliceStable(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if c := compareGroups(groupKeyOf(a), groupKeyOf(b)); c != 0 {
			return c < 0
		}
		return a.Seed < b.Seed
	})
}

// Write stores a record as dir/FileName atomically: a temporary file in dir,
// fsync, rename. A reader never sees a half-written record under the final
// name. FormatVersion 0 is written as [FormatVersion]; an invalid record is
// refused. So that results are never lost by accident, Write refuses
// (ErrWouldReplace) to replace a complete record that has no caveats with a
// failed run or a run that has caveats (see [Record.Caveats]), and to replace
// a record written in a newer format.
func Write(dir string, rec *Record) error {
	if rec == nil {
		return errors.New("results: Write: nil record")
	}
	r := *rec
	if r.FormatVersion == 0 {
		r.FormatVersion = FormatVersion
	}
	if err := Validate(&r); err != nil {
		return fmt.Errorf("results: not writing %s: %w", r.Label(), err)
	}
	data, err := json.MarshalIndent(&r, "", "  ")
	if err != nil {
		return fmt.Errorf("results: encoding %s: %w", r.Label(), err)
	}
	data = append(data, '\n')
	path := filepath.Join(dir, r.FileName())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	old, err := Load(path)
	if ve := (*VersionError)(nil); errors.As(err, &ve) {
		return fmt.Errorf("results: %s: not replacing a record of a newer format (%w)", path, ve)
	}
	if err == nil && old.Complete() && len(old.Caveats()) == 0 {
		if !r.Complete() {
			return fmt.Errorf("results: %s: %w by a failed run (%s); remove the file to rerun", path, ErrWouldReplace, r.Error)
		}
		if c := r.Caveats(); len(c) > 0 {
			return fmt.Errorf("results: %s: %w by a run with caveats (%s); write it to another directory", path, ErrWouldReplace, strings.Join(c, ", "))
		}
	}
	return writeFileAtomic(path, data, 0o644)
}

// Test hooks, to simulate a failing disk where a real one cannot be arranged:
// tempWriter is what a temporary file's content is written through (the file
// itself), syncFile is (*os.File).Sync.
var (
	tempWriter = func(f *os.File) io.Writer { return f }
	syncFile   = (*os.File).Sync
)

// writeFileAtomic writes data to path through a temporary file in the same
// directory, fsynced and renamed over path; on any error path is untouched
// and the temporary file removed.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("results: writing %s: %w", path, err)
		}
	}()
	var n int
	if n, err = tempWriter(tmp).Write(data); err == nil && n != len(data) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return err
	}
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if err = syncFile(tmp); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable; not every file system can sync a directory.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
