package results

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// CurrentMachine describes this machine: CPU model (from /proc/cpuinfo on
// Linux, sysctl on macOS), logical cores, GOMAXPROCS, OS, architecture, Go
// version and total memory (0 where unknown).
func CurrentMachine() Machine {
	return Machine{
		CPU:         cpuModel(),
		Cores:       runtime.NumCPU(),
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		OS:          runtime.GOOS,
		Arch:        runtime.GOARCH,
		GoVersion:   runtime.Version(),
		MemoryBytes: totalMemory(),
	}
}

func cpuModel() string {
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := parseCPUInfo(data); m != "" {
			return m
		}
	}
	if runtime.GOOS == "darwin" {
		if out, err := command(2*time.Second, "", "sysctl", "-n", "machdep.cpu.brand_string"); err == nil && out != "" {
			return out
		}
	}
	return "unknown"
}

// parseCPUInfo finds the CPU model in /proc/cpuinfo: "model name" on x86,
// "Model"/"Hardware"/"cpu model" elsewhere.
func parseCPUInfo(data []byte) string {
	found := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, seen := found[k]; !seen && v != "" {
			found[k] = v
		}
	}
	for _, k := range []string{"model name", "Model", "Hardware", "cpu model", "cpu"} {
		if v := found[k]; v != "" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

func totalMemory() int64 {
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		return statusKB(data, "MemTotal")
	}
	if runtime.GOOS == "darwin" {
		if out, err := command(2*time.Second, "", "sysctl", "-n", "hw.memsize"); err == nil {
			n, _ := strconv.ParseInt(out, 10, 64)
			return n
		}
	}
	return 0
}

// statusKB reads a "Key:   1234 kB" line of /proc/meminfo or /proc/self/status, in bytes.
func statusKB(data []byte, key string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return 0
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			n *= 1024
		}
		return n
	}
	return 0
}

// PeakRSS is the process's peak resident set size in bytes (VmHWM of
// /proc/self/status); 0 where that is unavailable.
func PeakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return statusKB(data, "VmHWM")
}

// GitCommit names the project's code for a record: the short commit, with
// "-dirty" when tracked files were modified, or "unknown".
//
// The commit stamped into the binary (build info vcs.revision) wins, since it
// is the code that runs; otherwise git is asked about dir (`git rev-parse
// --short HEAD`, `git status --porcelain --untracked-files=no`). Untracked
// files do not make a tree dirty: the runs write new records into it.
func GitCommit(dir string) string {
	return gitCommit(dir, debug.ReadBuildInfo)
}

func gitCommit(dir string, buildInfo func() (*debug.BuildInfo, bool)) string {
	if bi, ok := buildInfo(); ok && bi != nil {
		var rev string
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			if len(rev) > 7 {
				rev = rev[:7]
			}
			if modified {
				rev += "-dirty"
			}
			return rev
		}
	}
	rev, err := command(5*time.Second, dir, "git", "rev-parse", "--short", "HEAD")
	if err != nil || rev == "" {
		return "unknown"
	}
	status, err := command(5*time.Second, dir, "git", "status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return rev + "-dirty" // cannot tell: do not claim a clean tree
	}
	if status != "" {
		rev += "-dirty"
	}
	return rev
}

// command runs a program with a deadline and returns its trimmed stdout.
func command(timeout time.Duration, dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}
