package tinybert

// A small Hugging Face hub client, sharing the Python library's cache layout:
//
//	<cache>/models--<org>--<name>/blobs/<etag>
//	<cache>/models--<org>--<name>/refs/<revision>            (commit hash)
//	<cache>/models--<org>--<name>/snapshots/<commit>/<file>  -> ../../blobs/<etag>
//
// Why not github.com/gomlx/go-huggingface/hub (v0.3.1, which would not move our GoMLX
// pin)? It always re-fetches repository info, so a populated cache still needs the
// network; it has no HTTP timeouts; it ignores HF_HOME / HF_HUB_CACHE; and it neither
// verifies checksums nor reports a failed body read (its Download returns
// errors.Wrapf(nil, …) == nil on a broken connection, keeping a truncated file).
// Downloads here are bounded in time, verified against the hub's ETag (sha256 for LFS
// files, git blob sha1 for the others) and renamed into place only when complete.

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ErrBackboneUnavailable is wrapped by ResolveBackbone's errors when the backbone can
// be neither found locally nor downloaded.
var ErrBackboneUnavailable = errors.New("backbone not available")

// HubOptions say where a model comes from. The zero value means TinyBERT_General_4L_312D
// at "main", from $HF_ENDPOINT (default https://huggingface.co), cached in HFCacheDir().
type HubOptions struct {
	Repo     string
	Revision string
	Endpoint string
	CacheDir string
	// Offline forbids network access (also set by HF_HUB_OFFLINE=1).
	Offline bool
	// Client defaults to one with dial, TLS and response-header timeouts.
	Client *http.Client
	// StallTimeout aborts a download that receives nothing for this long (default 60 s).
	StallTimeout time.Duration
	// Progress receives one line per downloaded file and a byte count every second
	// (default os.Stderr; io.Discard silences it).
	Progress io.Writer
}

func (o HubOptions) withDefaults() HubOptions {
	if o.Repo == "" {
		o.Repo = TinyBERTGeneral4L312DRepo
	}
	if o.Revision == "" {
		o.Revision = "main"
	}
	if o.Endpoint == "" {
		o.Endpoint = os.Getenv("HF_ENDPOINT")
	}
	if o.Endpoint == "" {
		o.Endpoint = "https://huggingface.co"
	}
	o.Endpoint = strings.TrimSuffix(o.Endpoint, "/")
	if o.CacheDir == "" {
		o.CacheDir = HFCacheDir()
	}
	if v := strings.ToLower(os.Getenv("HF_HUB_OFFLINE")); v == "1" || v == "true" || v == "yes" || v == "on" {
		o.Offline = true
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		}}
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = 60 * time.Second
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	return o
}

// HFCacheDir is the hub cache directory, resolved like huggingface_hub does:
// $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
func HFCacheDir() string {
	for _, env := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if v := os.Getenv(env); v != "" {
			return expandHome(v)
		}
	}
	if v := os.Getenv("HF_HOME"); v != "" {
		return filepath.Join(expandHome(v), "hub")
	}
	if v := os.Getenv("XDG_CACHE_HOME"); v != "" {
		return filepath.Join(expandHome(v), "huggingface", "hub")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~"); ok && (rest == "" || rest[0] == '/') {
		if home, err := os.UserHomeDir(); err == nil {
			return home + rest
		}
	}
	return p
}

// repoDir is the cache folder of a model repository.
func (o HubOptions) repoDir() string {
	return filepath.Join(o.CacheDir, "models--"+strings.ReplaceAll(o.Repo, "/", "--"))
}

// CheckModelDir verifies that dir holds config.json, vocab.txt and model.safetensors or
// pytorch_model.bin; it does not read them.
func CheckModelDir(dir string) error {
	var missing []string
	for _, f := range []string{ConfigFile, VocabFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || !st.Mode().IsRegular() {
			missing = append(missing, f)
		}
	}
	if _, err := FindWeights(dir); err != nil {
		missing = append(missing, TorchFile+" or "+SafetensorsFile)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks %s", dir, strings.Join(missing, ", "))
	}
	return nil
}

var (
	commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	etagRE   = regexp.MustCompile(`^[0-9a-f]{40}$|^[0-9a-f]{64}$`)
)

// CachedSnapshot returns the cached snapshot directory of the revision, if it is complete.
func CachedSnapshot(opts HubOptions) (string, bool) {
	o := opts.withDefaults()
	commit := o.Revision
	if !commitRE.MatchString(commit) {
		b, err := os.ReadFile(filepath.Join(o.repoDir(), "refs", o.Revision))
		if err != nil {
			return "", false
		}
		commit = strings.TrimSpace(string(b))
		if !commitRE.MatchString(commit) {
			return "", false
		}
	}
	dir := filepath.Join(o.repoDir(), "snapshots", commit)
	if CheckModelDir(dir) != nil {
		return "", false
	}
	return dir, true
}

// ResolveBackbone returns a model directory: localDir when given (it must hold the
// files; nothing is downloaded), else the cached snapshot, else a fresh download into
// the cache. Errors wrap ErrBackboneUnavailable and say how to supply the files.
func ResolveBackbone(ctx context.Context, localDir string, opts HubOptions) (string, error) {
	o := opts.withDefaults()
	if localDir != "" {
		if err := CheckModelDir(localDir); err != nil {
			return "", fmt.Errorf("%w: --backbone %s: %v (want %s, %s and %s or %s)", ErrBackboneUnavailable,
				localDir, err, ConfigFile, VocabFile, TorchFile, SafetensorsFile)
		}
		return localDir, nil
	}
	if dir, ok := CachedSnapshot(o); ok {
		return dir, nil
	}
	dir, err := DownloadSnapshot(ctx, o)
	if err != nil {
		return "", fmt.Errorf("%w: %v\n%s", ErrBackboneUnavailable, err, howToSupply(o))
	}
	return dir, nil
}

func howToSupply(o HubOptions) string {
	return fmt.Sprintf("Supply the backbone yourself: --backbone DIR, a directory holding %s, %s and %s or %s "+
		"(the files of %s/%s), or put them in the Hugging Face cache (%s).",
		ConfigFile, VocabFile, TorchFile, SafetensorsFile, o.Endpoint, o.Repo, o.repoDir())
}

// DownloadSnapshot downloads config.json, vocab.txt and the weights (model.safetensors if
// the repository has it, else pytorch_model.bin) into the cache and returns the snapshot
// directory. Files already in the snapshot are not fetched again.
func DownloadSnapshot(ctx context.Context, opts HubOptions) (string, error) {
	o := opts.withDefaults()
	if o.Offline {
		return "", fmt.Errorf("%s is not in the cache (%s) and HF_HUB_OFFLINE forbids downloading it", o.Repo, o.repoDir())
	}
	var commit string
	get := func(file string, optional bool) (bool, error) {
		c, err := o.downloadFile(ctx, file, commit)
		if errors.Is(err, errNotFound) && optional {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("cannot download %s of %s from %s: %w", file, o.Repo, o.Endpoint, err)
		}
		if commit == "" {
			commit = c
		} else if c != commit {
			return false, fmt.Errorf("%s changed while downloading (commits %s and %s): try again", o.Repo, commit, c)
		}
		return true, nil
	}
	for _, f := range []string{ConfigFile, VocabFile} {
		if _, err := get(f, false); err != nil {
			return "", err
		}
	}
	if ok, err := get(SafetensorsFile, true); err != nil {
		return "", err
	} else if !ok {
		if _, err := get(TorchFile, false); err != nil {
			return "", err
		}
	}
	if !commitRE.MatchString(o.Revision) {
		refs := filepath.Join(o.repoDir(), "refs")
		if err := os.MkdirAll(refs, 0o755); err != nil {
			return "", err
		}
		if err := writeFileAtomic(filepath.Join(refs, o.Revision), []byte(commit)); err != nil {
			return "", err
		}
	}
	return filepath.Join(o.repoDir(), "snapshots", commit), nil
}

var errNotFound = errors.New("not found")

// downloadFile fetches one file into blobs/ and links it from snapshots/<commit>/,
// returning the commit the hub served it from.
func (o HubOptions) downloadFile(ctx context.Context, file, wantCommit string) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	url := fmt.Sprintf("%s/%s/resolve/%s/%s", o.Endpoint, o.Repo, o.Revision, file)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", "morphreuse-go/tinybert")
	if tok := os.Getenv("HF_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok) // Go drops it on redirects to other hosts
	}
	// The hub's own response carries the commit and the content hash; a redirect to the
	// CDN must not replace them with the CDN's ETag.
	var hubHeader http.Header
	client := *o.Client
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		if hubHeader == nil && r.Response != nil {
			hubHeader = r.Response.Header
		}
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", errNotFound
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", fmt.Errorf("HTTP %s: repository private, gated or missing (set HF_TOKEN?)", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("HTTP %s", resp.Status)
	}
	if hubHeader == nil {
		hubHeader = resp.Header
	}
	commit := hubHeader.Get("X-Repo-Commit")
	if commit == "" && commitRE.MatchString(o.Revision) {
		commit = o.Revision
	}
	if !commitRE.MatchString(commit) {
		return "", fmt.Errorf("the hub gave no commit hash (X-Repo-Commit %q)", commit)
	}
	if wantCommit != "" && commit != wantCommit {
		return commit, nil // the caller reports the mismatch
	}
	etag := hubHeader.Get("X-Linked-Etag")
	if etag == "" {
		etag = hubHeader.Get("ETag")
	}
	etag = strings.Trim(strings.TrimPrefix(etag, "W/"), `"`)
	if !etagRE.MatchString(etag) {
		return "", fmt.Errorf("the hub gave no usable ETag for %s (%q): cannot verify the download", file, etag)
	}
	size := resp.ContentLength
	if s, err := strconv.ParseInt(hubHeader.Get("X-Linked-Size"), 10, 64); err == nil {
		size = s
	}

	repo := o.repoDir()
	snapshot := filepath.Join(repo, "snapshots", commit)
	link := filepath.Join(snapshot, file)
	blobs := filepath.Join(repo, "blobs")
	blob := filepath.Join(blobs, etag)
	if _, err := os.Stat(link); err == nil {
		return commit, nil
	}
	for _, d := range []string{blobs, snapshot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(blob); err != nil {
		if err := o.fetchBlob(resp.Body, cancel, blob, etag, size, file); err != nil {
			return "", err
		}
	}
	if err := linkAtomic(blob, link); err != nil {
		return "", err
	}
	return commit, nil
}

// fetchBlob streams body into blob.incomplete-*, verifies size and hash, and renames it.
// size < 0 means unknown.
func (o HubOptions) fetchBlob(body io.Reader, cancel func(), blob, etag string, size int64, file string) error {
	tmp, err := os.CreateTemp(filepath.Dir(blob), filepath.Base(blob)+".incomplete-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	defer tmp.Close()
	// A watchdog cancels the request when no byte arrives for StallTimeout.
	progress := make(chan int64, 1)
	done := make(chan struct{})
	defer close(done)
	var stalled atomic.Bool
	go func() {
		t := time.NewTimer(o.StallTimeout)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-progress:
				t.Reset(o.StallTimeout)
			case <-t.C:
				stalled.Store(true)
				cancel()
				return
			}
		}
	}()
	var n int64
	last := time.Now()
	buf := make([]byte, 1<<20)
	fmt.Fprintf(o.Progress, "tinybert: downloading %s/%s (%s)\n", o.Repo, file, humanBytes(size))
	for {
		k, rerr := body.Read(buf)
		if k > 0 {
			if _, err := tmp.Write(buf[:k]); err != nil {
				return err
			}
			n += int64(k)
			select {
			case progress <- n:
			default:
			}
			if time.Since(last) > time.Second {
				fmt.Fprintf(o.Progress, "tinybert: %s: %s of %s\n", file, humanBytes(n), humanBytes(size))
				last = time.Now()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if stalled.Load() {
				return fmt.Errorf("%s: download interrupted after %d bytes: nothing received for %v", file, n, o.StallTimeout)
			}
			return fmt.Errorf("%s: download interrupted after %d bytes: %w", file, n, rerr)
		}
	}
	if size >= 0 && n != size {
		return fmt.Errorf("%s: received %d bytes, expected %d", file, n, size)
	}
	if err := verifyETag(tmp, n, etag); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), blob)
}

// verifyETag checks the n bytes of f against the hub's ETag: the sha256 of LFS files,
// the git blob id sha1("blob <n>\x00" + content) of the others.
func verifyETag(f *os.File, n int64, etag string) error {
	var h hash.Hash
	if len(etag) == 64 {
		h = sha256.New()
	} else {
		h = sha1.New()
		fmt.Fprintf(h, "blob %d\x00", n)
	}
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, n)); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != etag {
		return fmt.Errorf("checksum mismatch (got %s, the hub says %s): download corrupted", got, etag)
	}
	return nil
}

// linkAtomic points link at blob with a relative symlink (as huggingface_hub does), or a
// copy where symlinks are not available, replacing link atomically.
func linkAtomic(blob, link string) error {
	rel, err := filepath.Rel(filepath.Dir(link), blob)
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp-%d-%d", link, os.Getpid(), time.Now().UnixNano())
	if err := os.Symlink(rel, tmp); err != nil {
		data, rerr := os.ReadFile(blob)
		if rerr != nil {
			return rerr
		}
		return writeFileAtomic(link, data)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func humanBytes(n int64) string {
	if n < 0 {
		return "unknown size"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
