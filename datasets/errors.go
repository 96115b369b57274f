package datasets

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// FormatError reports malformed input: the file and where in it the problem
// is — a byte offset for binary files (offsets into the decompressed stream
// for gzip files), a 1-based line for text files.
type FormatError struct {
	File string
	// Offset is the byte offset, or -1 when Line is used or no position applies.
	Offset int64
	// Line is the 1-based line number of text files, 0 for binary files.
	Line int
	Msg  string
}

func (e *FormatError) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("%s: line %d: %s", e.File, e.Line, e.Msg)
	case e.Offset >= 0:
		return fmt.Sprintf("%s: byte %d: %s", e.File, e.Offset, e.Msg)
	default:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
}

func byteErr(file string, off int64, format string, args ...any) error {
	return &FormatError{File: file, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func lineErr(file string, line int, format string, args ...any) error {
	return &FormatError{File: file, Offset: -1, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func fileErr(file string, format string, args ...any) error {
	return &FormatError{File: file, Offset: -1, Msg: fmt.Sprintf(format, args...)}
}

// errDownloadDisabled is the download error of a MissingError when downloads were turned off.
var errDownloadDisabled = errors.New("downloads disabled")

// MissingError reports a data file that is neither on disk nor downloadable.
type MissingError struct {
	File string // relative to Dir, e.g. "mnist/train-images-idx3-ubyte.gz"
	Dir  string // the data directory searched
	Err  error  // why it could not be downloaded (errDownloadDisabled when downloads were off)

	dirMissing bool
}

func newMissing(file, dir string, err error) *MissingError {
	_, statErr := os.Stat(dir)
	return &MissingError{File: file, Dir: dir, Err: err, dirMissing: errors.Is(statErr, os.ErrNotExist)}
}

func (e *MissingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "datasets: %s not found in %s", e.File, e.Dir)
	if e.dirMissing {
		b.WriteString(" (the directory does not exist)")
	}
	if errors.Is(e.Err, errDownloadDisabled) {
		b.WriteString(" and downloads are disabled")
	} else {
		fmt.Fprintf(&b, " and the download failed: %v", e.Err)
	}
	fmt.Fprintf(&b, "; to fix: retry with internet access (files are cached in %s), "+
		"or copy the official files there, or pass a directory / set %s to a folder that holds them "+
		"(shared/data/prepare DIR lays out local copies)", e.Dir, EnvDataDir)
	return b.String()
}

func (e *MissingError) Unwrap() error { return e.Err }

// fetchFailed is the error of a file that could not be fetched into dir: a
// *WriteError as it is, else a *MissingError.
func fetchFailed(file, dir string, err error) error {
	var we *WriteError
	if errors.As(err, &we) {
		return we
	}
	return newMissing(file, dir, err)
}

// WriteError reports a data file that could not be written into the data
// directory: the disk is full, or the directory is read-only or not a
// directory. No partial file is left under the file's name.
type WriteError struct {
	File string // relative to Dir, e.g. "mnist/train-images-idx3-ubyte.gz"
	Dir  string // the data directory
	Err  error
}

func (e *WriteError) Error() string {
	fix := "make " + e.Dir + " a writable directory"
	if errors.Is(e.Err, syscall.ENOSPC) {
		fix = "free disk space for " + e.Dir
	}
	return fmt.Sprintf("datasets: cannot write %s into the data directory %s: %v; nothing partial was kept; "+
		"to fix: %s, or pass another directory / set %s (a read-only directory is fine once it holds the files)",
		e.File, e.Dir, e.Err, fix, EnvDataDir)
}

func (e *WriteError) Unwrap() error { return e.Err }
