//go:build ((linux && amd64) || darwin) && !noxla

package backend

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gomlx/go-xla/pkg/pjrt"
	"github.com/gomlx/gomlx/backends/xla"
)

// installTimeout bounds a plugin download (~100 MB) on a network that answers.
const installTimeout = 10 * time.Minute

// xlaUsable reports whether XLA's CPU plugin is installed, or can be installed now.
func xlaUsable(lookupEnv func(string) (string, bool)) (bool, string) {
	if path, ok := pjrt.AvailablePlugins()["cpu"]; ok {
		return true, "PJRT CPU plugin found at " + path
	}
	if _, ok := lookupEnv(xla.NoAutoInstallEnv); ok {
		return false, "no PJRT CPU plugin installed and " + xla.NoAutoInstallEnv + " is set"
	}
	if err := probeNetwork("api.github.com:443", networkProbeLimit); err != nil {
		return false, fmt.Sprintf("no PJRT CPU plugin installed and its download site is unreachable (%v)", err)
	}
	if err := autoInstall(); err != nil {
		return false, fmt.Sprintf("PJRT CPU plugin auto-install failed: %v", err)
	}
	if path, ok := pjrt.AvailablePlugins()["cpu"]; ok {
		return true, "PJRT CPU plugin installed at " + path
	}
	return false, "PJRT CPU plugin auto-install reported success but no plugin was found"
}

// probeNetwork dials addr (DNS included) within limit.
func probeNetwork(addr string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// autoInstall runs go-xla's installer with connection timeouts on the default
// HTTP transport (the installer uses http.Get) and an overall deadline.
func autoInstall() error {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = 10 * time.Second
		t.ResponseHeaderTimeout = 30 * time.Second
	}
	done := make(chan error, 1)
	go func() { done <- xla.AutoInstall() }()
	select {
	case err := <-done:
		return err
	case <-time.After(installTimeout):
		return fmt.Errorf("gave up after %s", installTimeout)
	}
}

func disableAutoInstall() { xla.EnableAutoInstall(false) }
