package tinybert

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testCommit = "0123456789abcdef0123456789abcdef01234567"

// fakeHub serves a repository the way huggingface.co does: small files directly with
// their git blob id as ETag, LFS files through a redirect to a "CDN" whose own ETag
// must be ignored in favour of the hub's X-Linked-Etag (sha256).
type fakeHub struct {
	files    map[string][]byte
	lfs      map[string]bool
	corrupt  string // serve this file with one byte flipped
	stall    string // send headers for this file, then nothing
	status   int    // if set, every request gets it
	requests atomic.Int32
}

func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (f *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	if name, ok := strings.CutPrefix(r.URL.Path, "/cdn/"); ok {
		data := f.files[name]
		if name == f.corrupt {
			data = append([]byte{}, data...)
			data[len(data)/2] ^= 1
		}
		w.Header().Set("ETag", `"cdn-etag-not-a-hash"`)
		w.Write(data)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/org/model/resolve/main/")
	data, exists := f.files[name]
	if !ok || !exists {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Repo-Commit", testCommit)
	if f.lfs[name] {
		sum := sha256.Sum256(data)
		w.Header().Set("X-Linked-Etag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.Header().Set("X-Linked-Size", fmt.Sprint(len(data)))
		http.Redirect(w, r, "/cdn/"+name, http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+gitBlobID(data)+`"`)
	if name == f.stall {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	if name == f.corrupt {
		data = append([]byte{}, data...)
		data[0] ^= 1
	}
	w.Write(data)
}

func newFakeHub(t *testing.T) (*fakeHub, HubOptions) {
	t.Helper()
	f := &fakeHub{files: map[string][]byte{}, lfs: map[string]bool{TorchFile: true}}
	for _, name := range []string{ConfigFile, VocabFile, TorchFile} {
		b, err := os.ReadFile(filepath.Join(fixtureDir, name))
		if err != nil {
			t.Fatal(err)
		}
		f.files[name] = b
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("HF_HUB_OFFLINE", "")
	return f, HubOptions{Repo: "org/model", Endpoint: srv.URL, CacheDir: t.TempDir(), Progress: io.Discard}
}

func TestDownloadIntoCache(t *testing.T) {
	hub, opts := newFakeHub(t)
	dir, err := ResolveBackbone(context.Background(), "", opts)
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(opts.CacheDir, "models--org--model")
	if dir != filepath.Join(repo, "snapshots", testCommit) {
		t.Errorf("snapshot dir %s", dir)
	}
	if ref, _ := os.ReadFile(filepath.Join(repo, "refs", "main")); string(ref) != testCommit {
		t.Errorf("refs/main = %q", ref)
	}
	// Snapshot entries are relative symlinks into blobs/, named by the hub's hashes.
	sum := sha256.Sum256(hub.files[TorchFile])
	for name, etag := range map[string]string{
		ConfigFile: gitBlobID(hub.files[ConfigFile]), TorchFile: hex.EncodeToString(sum[:]),
	} {
		target, err := os.Readlink(filepath.Join(dir, name))
		if err != nil || target != filepath.Join("..", "..", "blobs", etag) {
			t.Errorf("%s -> %q (%v)", name, target, err)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(repo, "blobs", "*incomplete*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	p, err := LoadPretrained(dir)
	if err != nil || filepath.Base(p.WeightsFile) != TorchFile {
		t.Fatalf("load downloaded snapshot: %v", err)
	}
	// model.safetensors was asked for first (404), then the three files: 5 requests
	// including the CDN redirect.
	if n := hub.requests.Load(); n != 5 {
		t.Errorf("%d requests, want 5", n)
	}
	// A second resolve is served from the cache without any request.
	hub.requests.Store(0)
	if again, err := ResolveBackbone(context.Background(), "", opts); err != nil || again != dir || hub.requests.Load() != 0 {
		t.Errorf("cached resolve: %s %v, %d requests", again, err, hub.requests.Load())
	}
}

func TestDownloadRejectsCorruption(t *testing.T) {
	for _, file := range []string{VocabFile, TorchFile} {
		hub, opts := newFakeHub(t)
		hub.corrupt = file
		_, err := ResolveBackbone(context.Background(), "", opts)
		if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !errors.Is(err, ErrBackboneUnavailable) {
			t.Errorf("corrupted %s: %v", file, err)
		}
		blobs, _ := filepath.Glob(filepath.Join(opts.CacheDir, "models--org--model", "blobs", "*"))
		for _, b := range blobs {
			data, _ := os.ReadFile(b)
			if gitBlobID(data) != filepath.Base(b) && fmt.Sprintf("%x", sha256.Sum256(data)) != filepath.Base(b) {
				t.Errorf("blob %s does not match its name", b)
			}
		}
		if _, ok := CachedSnapshot(opts); ok {
			t.Error("an incomplete snapshot counts as cached")
		}
	}
}

func TestDownloadStallAndHTTPErrors(t *testing.T) {
	hub, opts := newFakeHub(t)
	hub.stall = ConfigFile
	opts.StallTimeout = 200 * time.Millisecond
	start := time.Now()
	if _, err := ResolveBackbone(context.Background(), "", opts); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("stalled download: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stall detection took %v", d)
	}

	hub2, opts2 := newFakeHub(t)
	hub2.status = http.StatusUnauthorized
	if _, err := ResolveBackbone(context.Background(), "", opts2); err == nil || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Errorf("401: %v", err)
	}
}

func TestResolveOffline(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "")
	// A closed port on loopback: the connection is refused at once, like a failed DNS
	// lookup on a machine without network.
	opts := HubOptions{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir()}
	start := time.Now()
	_, err := ResolveBackbone(context.Background(), "", opts)
	elapsed := time.Since(start)
	t.Logf("offline failure after %v: %v", elapsed, err)
	if !errors.Is(err, ErrBackboneUnavailable) || !strings.Contains(err.Error(), "--backbone DIR") ||
		!strings.Contains(err.Error(), "config.json, vocab.txt and pytorch_model.bin or model.safetensors") {
		t.Errorf("unhelpful error: %v", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("took %v to fail", elapsed)
	}
	// HF_HUB_OFFLINE: no connection attempted at all.
	hub, opts2 := newFakeHub(t)
	t.Setenv("HF_HUB_OFFLINE", "1")
	if _, err := ResolveBackbone(context.Background(), "", opts2); err == nil || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") || hub.requests.Load() != 0 {
		t.Errorf("HF_HUB_OFFLINE: %v (%d requests)", err, hub.requests.Load())
	}
}

func TestResolveLocalDir(t *testing.T) {
	dir, err := ResolveBackbone(context.Background(), fixtureDir, HubOptions{Endpoint: "http://127.0.0.1:1"})
	if err != nil || dir != fixtureDir {
		t.Errorf("local dir: %s %v", dir, err)
	}
	empty := t.TempDir()
	_, err = ResolveBackbone(context.Background(), empty, HubOptions{})
	if !errors.Is(err, ErrBackboneUnavailable) || !strings.Contains(err.Error(), "lacks config.json, vocab.txt, pytorch_model.bin or model.safetensors") {
		t.Errorf("empty local dir: %v", err)
	}
}

func TestHFCacheDir(t *testing.T) {
	for _, env := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"} {
		t.Setenv(env, "")
	}
	t.Setenv("HOME", "/home/u")
	if got := HFCacheDir(); got != "/home/u/.cache/huggingface/hub" {
		t.Errorf("default: %s", got)
	}
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if got := HFCacheDir(); got != "/xdg/huggingface/hub" {
		t.Errorf("XDG: %s", got)
	}
	t.Setenv("HF_HOME", "~/hf")
	if got := HFCacheDir(); got != "/home/u/hf/hub" {
		t.Errorf("HF_HOME: %s", got)
	}
	t.Setenv("HF_HUB_CACHE", "/cache")
	if got := HFCacheDir(); got != "/cache" {
		t.Errorf("HF_HUB_CACHE: %s", got)
	}
}
