package results

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestParseCPUInfo(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"x86", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)   CPU @ 2.20GHz\nprocessor\t: 1\nmodel name\t: other\n", "Intel(R) Xeon(R) CPU @ 2.20GHz"},
		{"arm", "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n", "Raspberry Pi 4 Model B Rev 1.4"},
		{"s390", "vendor_id       : IBM/S390\ncpu model : z15\n", "z15"},
		{"nothing", "processor\t: 0\n", ""},
	} {
		if got := parseCPUInfo([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestStatusKB(t *testing.T) {
	status := "Name:\tx\nVmPeak:\t  2000 kB\nVmHWM:\t    1234 kB\nThreads:\t3\n"
	if got := statusKB([]byte(status), "VmHWM"); got != 1234*1024 {
		t.Errorf("VmHWM = %d", got)
	}
	if got := statusKB([]byte(status), "Threads"); got != 3 {
		t.Errorf("Threads = %d", got)
	}
	if got := statusKB([]byte(status), "VmRSS"); got != 0 {
		t.Errorf("missing key = %d", got)
	}
	if got := statusKB([]byte("VmHWM:\tlots kB\n"), "VmHWM"); got != 0 {
		t.Errorf("garbage = %d", got)
	}
}

func TestCurrentMachineAndPeakRSS(t *testing.T) {
	m := CurrentMachine()
	if m.Cores != runtime.NumCPU() || m.OS != runtime.GOOS || m.Arch != runtime.GOARCH || m.GoVersion != runtime.Version() {
		t.Errorf("CurrentMachine = %+v", m)
	}
	if m.CPU == "" {
		t.Error("empty CPU (want a model or \"unknown\")")
	}
	if runtime.GOOS == "linux" {
		if m.CPU == "unknown" || m.MemoryBytes <= 0 {
			t.Errorf("on Linux: CPU %q, memory %d", m.CPU, m.MemoryBytes)
		}
		if rss := PeakRSS(); rss < 1<<20 {
			t.Errorf("PeakRSS = %d", rss)
		}
	}
}

func noBuildInfo() (*debug.BuildInfo, bool) { return nil, false }

func TestGitCommit(t *testing.T) {
	t.Run("build info wins", func(t *testing.T) {
		bi := func(modified string) func() (*debug.BuildInfo, bool) {
			return func() (*debug.BuildInfo, bool) {
				return &debug.BuildInfo{Settings: []debug.BuildSetting{
					{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: modified},
				}}, true
			}
		}
		if got := gitCommit(t.TempDir(), bi("false")); got != "0123456" {
			t.Errorf("clean build: %q", got)
		}
		if got := gitCommit(t.TempDir(), bi("true")); got != "0123456-dirty" {
			t.Errorf("modified build: %q", got)
		}
	})
	t.Run("not a repository", func(t *testing.T) {
		if got := gitCommit(t.TempDir(), noBuildInfo); got != "unknown" {
			t.Errorf("%q", got)
		}
	})
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	t.Run("repository", func(t *testing.T) {
		dir := t.TempDir()
		git := func(args ...string) {
			t.Helper()
			cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Skipf("git %v: %v\n%s", args, err, out)
			}
		}
		git("init", "-q")
		if got := gitCommit(dir, noBuildInfo); got != "unknown" {
			t.Errorf("repository without commits: %q", got)
		}
		os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n"), 0o644)
		git("add", "a.go")
		git("commit", "-q", "-m", "first")
		clean := gitCommit(dir, noBuildInfo)
		if !regexp.MustCompile(`^[0-9a-f]{7,}$`).MatchString(clean) {
			t.Fatalf("clean tree: %q", clean)
		}
		os.WriteFile(filepath.Join(dir, "run.json"), []byte("{}"), 0o644) // untracked: still clean
		if got := gitCommit(dir, noBuildInfo); got != clean {
			t.Errorf("untracked file: %q, want %q", got, clean)
		}
		os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a // changed\n"), 0o644)
		if got := gitCommit(dir, noBuildInfo); got != clean+"-dirty" {
			t.Errorf("modified tree: %q, want %q", got, clean+"-dirty")
		}
		if got := GitCommit(dir); got != clean+"-dirty" {
			t.Errorf("GitCommit (test binaries carry no vcs stamp): %q", got)
		}
	})
}
