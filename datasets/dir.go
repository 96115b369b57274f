package datasets

import (
	"os"
	"path/filepath"
	"strings"
)

// EnvDataDir names the environment variable that overrides the default data directory.
const EnvDataDir = "MORPHREUSE_DATA"

// Dir resolves the data directory: explicit if not empty, else $MORPHREUSE_DATA
// if set, else ~/.cache/morphreuse/data (relative .cache/morphreuse/data when
// the home directory is unknown). A leading "~/" is expanded in the first two.
func Dir(explicit string) string {
	for _, d := range []string{explicit, os.Getenv(EnvDataDir)} {
		if d != "" {
			return expandHome(d)
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = ""
	}
	return filepath.Join(home, ".cache", "morphreuse", "data")
}

func expandHome(d string) string {
	if d != "~" && !strings.HasPrefix(d, "~/") {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return d
	}
	return filepath.Join(home, d[1:])
}
