// Package backend chooses the GoMLX backend once per process, explicitly and fast.
//
// GoMLX's own backends.New() tries to download the XLA PJRT plugin when none is
// installed and does not fall back when that fails (and its HTTP client has no
// timeout). This package decides instead:
//
//  1. GOMLX_BACKEND, when set, always wins ("go", "go:ops_parallel", "xla:cpu", ...).
//  2. Otherwise XLA (PJRT CPU plugin) when the binary has it compiled in and a
//     plugin is installed, or can be auto-installed because the network answers.
//  3. Otherwise simplego, with one line saying why.
//
// simplego always runs with "ops_sequential" unless the configuration names its
// own ops mode: the default parallel-ops mode deadlocks when four or more matrix
// products are ready at once (see TestNoDeadlock).
//
// Whatever is chosen, the gradient fixes of internal/gradfix are installed first.
package backend

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego" // Always available: pure Go.
	"github.com/morphreuse/morphreuse-go/internal/gradfix"
)

// Choice is the backend in use and how it was chosen.
type Choice struct {
	Backend backends.Backend
	// Config is the GoMLX configuration string that built Backend, e.g. "go:ops_sequential" or "xla:cpu".
	Config string
	// Reason says why this backend was chosen (and, for simplego, why not XLA).
	Reason string
	// Took is how long the decision took, plugin probing included.
	Took time.Duration
}

// Name is the short name recorded in results: "xla" or "simplego".
func (c *Choice) Name() string { return ShortName(c.Backend) }

// String is the one line printed when the backend is chosen.
func (c *Choice) String() string {
	return fmt.Sprintf("backend: %s (%s) — %s [decided in %s]", c.Name(), c.Config, c.Reason, c.Took.Round(time.Millisecond))
}

// ShortName maps a GoMLX backend to the name used in records: "xla" or "simplego".
func ShortName(b backends.Backend) string {
	if b == nil {
		return "none"
	}
	if IsSimpleGo(b) {
		return "simplego"
	}
	return b.String()
}

// IsSimpleGo reports whether b is GoMLX's pure-Go backend.
func IsSimpleGo(b backends.Backend) bool {
	_, ok := b.(*simplego.Backend)
	return ok
}

const (
	simplegoName      = "go"
	sequentialOps     = "ops_sequential"
	simplegoDefault   = simplegoName + ":" + sequentialOps
	xlaDefaultConfig  = "xla:cpu"
	networkProbeLimit = 800 * time.Millisecond
)

var (
	once       sync.Once
	shared     *Choice
	sharedErr  error
	announceTo io.Writer = os.Stderr
)

// Default returns the process-wide backend, choosing it (and printing the
// choice to stderr) on the first call.
func Default() (*Choice, error) {
	once.Do(func() {
		shared, sharedErr = Choose()
		if sharedErr == nil && announceTo != nil {
			fmt.Fprintln(announceTo, shared.String())
		}
	})
	return shared, sharedErr
}

// MustDefault is Default for programs and tests that cannot go on without a backend.
func MustDefault() *Choice {
	c, err := Default()
	if err != nil {
		panic(err)
	}
	return c
}

// Choose makes a fresh decision (see the package doc). Most callers want Default.
func Choose() (*Choice, error) {
	start := time.Now()
	if err := gradfix.Install(); err != nil {
		return nil, err
	}
	config, reason, err := decide(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	b, err := build(config)
	if err != nil {
		return nil, err
	}
	return &Choice{Backend: b, Config: config, Reason: reason, Took: time.Since(start)}, nil
}

// decide returns the configuration to build and why, without building it.
func decide(lookupEnv func(string) (string, bool)) (config, reason string, err error) {
	if env, ok := lookupEnv(backends.ConfigEnvVar); ok && strings.TrimSpace(env) != "" {
		config, err = normalize(strings.TrimSpace(env))
		if err != nil {
			return "", "", err
		}
		return config, fmt.Sprintf("%s=%q", backends.ConfigEnvVar, env), nil
	}
	if ok, why := xlaUsable(lookupEnv); ok {
		return xlaDefaultConfig, why, nil
	} else {
		return simplegoDefault, "XLA unavailable: " + why + "; set " + backends.ConfigEnvVar + " to choose", nil
	}
}

// normalize validates a user configuration against the compiled-in backends
// and adds ops_sequential to a simplego configuration that names no ops mode.
func normalize(config string) (string, error) {
	name, opts, _ := strings.Cut(config, ":")
	if !slices.Contains(backends.List(), name) {
		avail := backends.List()
		slices.Sort(avail)
		hint := ""
		if isXLAName(name) {
			hint = " (this binary was built without XLA, e.g. with -tags noxla)"
		}
		return "", fmt.Errorf("%s=%q: backend %q is not compiled in%s; available: %s",
			backends.ConfigEnvVar, config, name, hint, strings.Join(avail, ", "))
	}
	if name == simplegoName && !strings.Contains(opts, "ops_") {
		if opts == "" {
			opts = sequentialOps
		} else {
			opts += "," + sequentialOps
		}
		return name + ":" + opts, nil
	}
	return config, nil
}

func isXLAName(name string) bool {
	switch name {
	case "xla", "stablehlo", "hlo", "shlo":
		return true
	}
	return false
}

// build constructs the backend, turning GoMLX panics into errors.
func build(config string) (b backends.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("backend %q: %v", config, r)
		}
	}()
	if name, _, _ := strings.Cut(config, ":"); isXLAName(name) {
		disableAutoInstall() // decide() already installed what it could; never download during New.
	}
	b, err = backends.NewWithConfig(config)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", config, err)
	}
	return b, nil
}
