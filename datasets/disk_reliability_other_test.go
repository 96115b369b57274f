//go:build !linux

package datasets

import (
	"os"
	"testing"
)

// readOnlyDir returns a directory, filled by fill, that refuses new files
// (see the Linux version); as root, which ignores permission bits, the test
// is skipped.
func readOnlyDir(t *testing.T, fill func(dir string)) string {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skip("root ignores permission bits, and read-only mounts are only arranged on Linux")
	}
	dir := t.TempDir()
	fill(dir)
	os.Chmod(dir, 0o555)
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	return dir
}
