// Command morphreuse runs the MorphReuse experiments headless: the same
// experiments the notebooks run, writing one JSON record per run and an HTML
// report made from the records.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/morphreuse/morphreuse-go/internal/backend"
)

const usage = `morphreuse — shaped weight sharing (MorphReuse) vs full training vs LoRA, in Go.

Usage:
  morphreuse <command> [flags]

Commands:
  backend     print which GoMLX backend would be used here, and why
  help        this text

Environment:
  GOMLX_BACKEND    force a backend: "go" (simplego, pure Go) or "xla:cpu"
  MORPHREUSE_DATA  data directory (default ~/.cache/morphreuse/data)
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is main without the process: it returns the exit code (2 for usage errors).
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "backend":
		c, err := backend.Choose()
		if err != nil {
			fmt.Fprintln(stderr, "morphreuse:", err)
			return 1
		}
		fmt.Fprintln(stdout, c)
		return 0
	default:
		fmt.Fprintf(stderr, "morphreuse: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
