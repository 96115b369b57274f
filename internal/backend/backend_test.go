package backend

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/morphreuse/morphreuse-go/internal/gradfix"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEnvironmentWins(t *testing.T) {
	for _, c := range []struct{ env, want string }{
		{"go", "go:ops_sequential"},
		{"go:parallelism=1", "go:parallelism=1,ops_sequential"},
		{"go:ops_parallel", "go:ops_parallel"}, // an explicit ops mode is the user's call
	} {
		got, reason, err := decide(env("GOMLX_BACKEND", c.env))
		if err != nil || got != c.want || !strings.Contains(reason, "GOMLX_BACKEND") {
			t.Errorf("GOMLX_BACKEND=%q: got %q (%q, %v), want %q", c.env, got, reason, err, c.want)
		}
	}
}

func TestUnknownBackendIsAnErrorNotAPanic(t *testing.T) {
	_, _, err := decide(env("GOMLX_BACKEND", "nonsense:x"))
	if err == nil || !strings.Contains(err.Error(), `"nonsense"`) || !strings.Contains(err.Error(), "available") {
		t.Fatalf("want an error naming the backend and the available ones, got %v", err)
	}
}

// TestOfflineFallsBackFast runs the real decision with no GOMLX_BACKEND. Here
// (no plugin, no network) it must pick simplego and say why; with a plugin
// installed it picks XLA. Either way it must not hang.
func TestOfflineFallsBackFast(t *testing.T) {
	start := time.Now()
	config, reason, err := decide(env())
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("decision %q in %s: %s", config, took, reason)
	if strings.HasPrefix(config, "go") && !strings.Contains(reason, "XLA unavailable") {
		t.Errorf("fallback to simplego without saying why: %q", reason)
	}
}

func TestDefaultInstallsGradientFixes(t *testing.T) {
	c := MustDefault()
	if !gradfix.Installed() {
		t.Fatal("backend chosen without the gradient fixes installed")
	}
	if c.Name() != "simplego" && c.Name() != "xla" {
		t.Fatalf("unexpected backend name %q", c.Name())
	}
	if !strings.Contains(c.String(), c.Name()) {
		t.Fatalf("announcement %q does not name the backend", c.String())
	}
}

// deadlockTimeout is far above the ~0.05 s this takes when it works.
var deadlockTimeout = 2 * time.Minute

// TestNoDeadlock: eight independent matrix products summed. In simplego's
// default parallel-ops mode this graph hangs forever (all four worker slots
// held by Dots waiting for workers); the chosen configuration must finish.
func TestNoDeadlock(t *testing.T) {
	c := MustDefault()
	done := make(chan *tensors.Tensor, 1)
	go func() {
		done <- MustExecOnce(c.Backend, func(g *Graph) *Node {
			var sum *Node
			for i := range 8 {
				a := IotaFull(g, shapes.Make(dtypes.Float32, 256, 256))
				a = MulScalar(a, 1e-6*float64(i+1))
				p := Dot(a, a)
				if sum == nil {
					sum = p
				} else {
					sum = Add(sum, p)
				}
			}
			return ReduceAllSum(sum)
		})
	}()
	select {
	case out := <-done:
		if v := tensors.MustCopyFlatData[float32](out)[0]; v <= 0 {
			t.Fatalf("unexpected sum %g", v)
		}
	case <-time.After(deadlockTimeout):
		t.Fatal("8 concurrent matrix products did not finish in 2 minutes: the simplego parallel-ops deadlock is back (is ops_sequential still set?)")
	}
}

// TestXLAWithoutXLA: a binary built with -tags noxla asked for XLA must say
// so, not panic as GoMLX's NewWithConfig does. CI runs this with -tags noxla.
func TestXLAWithoutXLA(t *testing.T) {
	if slices.Contains(backends.List(), "xla") {
		t.Skip("XLA is compiled in; run with -tags noxla")
	}
	_, _, err := decide(env("GOMLX_BACKEND", "xla:cpu"))
	if err == nil || !strings.Contains(err.Error(), "without XLA") {
		t.Fatalf("want an error saying the binary has no XLA, got %v", err)
	}
	config, reason, err := decide(env())
	if err != nil || !strings.HasPrefix(config, "go:") || !strings.Contains(reason, "without XLA") {
		t.Fatalf("default decision without XLA: %q %q %v", config, reason, err)
	}
}
