package datasets

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fileServer serves fixed bodies by URL path and counts requests.
type fileServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
}

func newFileServer(t *testing.T, files map[string][]byte) *fileServer {
	s := &fileServer{files: files, hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		b, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func sums(b []byte) (md5hex, shahex string) {
	m, s := md5.Sum(b), sha256.Sum256(b)
	return hex.EncodeToString(m[:]), hex.EncodeToString(s[:])
}

// closedURL returns a URL on which nothing listens: connections are refused at once.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// mnistSources builds a catalogue for a small MNIST set served under each base URL in turn.
func mnistSources(t *testing.T, files map[string][]byte, bases ...string) map[string]remote {
	src := map[string]remote{}
	for name, b := range files {
		m, s := sums(b)
		r := remote{path: "mnist/" + name, md5: m, sha256: s, maxSize: 1 << 20}
		for _, base := range bases {
			r.urls = append(r.urls, base+"/mnist/"+name)
		}
		src[r.path] = r
	}
	return src
}

func smallMNIST() map[string][]byte {
	files := map[string][]byte{}
	for _, split := range []Split{Train, Test} {
		img, lbl := mnistFiles(4, 28, 28)
		imgName, lblName := idxNames(split)
		files[imgName], files[lblName] = gzipBytes(img), gzipBytes(lbl)
	}
	return files
}

func servedPaths(files map[string][]byte, prefix string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range files {
		out[prefix+k] = v
	}
	return out
}

func noPartials(t *testing.T, root string) {
	t.Helper()
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".partial") {
			t.Errorf("left-over temporary file %s", p)
		}
		return nil
	})
}

func TestDownloadMNISTWithFallback(t *testing.T) {
	files := smallMNIST()
	good := newFileServer(t, servedPaths(files, "/mnist/"))
	broken := newFileServer(t, nil) // 404 for everything
	root := filepath.Join(t.TempDir(), "data")
	var progress bytes.Buffer
	opts := []Option{withSources(mnistSources(t, files, closedURL(t), broken.URL, good.URL)), WithProgress(&progress)}

	im, err := Load(root, "mnist", Train, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if im.N != 4 || im.Labels[1] != 3 {
		t.Fatalf("downloaded set: N=%d labels %v", im.N, im.Labels)
	}
	for _, name := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"} {
		b, err := os.ReadFile(filepath.Join(root, "mnist", name))
		if err != nil || !bytes.Equal(b, files[name]) {
			t.Fatalf("%s on disk differs from the served file (%v)", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "mnist", "t10k-images-idx3-ubyte.gz")); err == nil {
		t.Fatal("loading train downloaded the test split too")
	}
	noPartials(t, root)
	if !strings.Contains(progress.String(), "mnist/train-images-idx3-ubyte.gz") {
		t.Fatalf("no progress shown for the download: %q", progress.String())
	}

	// Present files are used as they are: no second request.
	before := good.hits["/mnist/train-images-idx3-ubyte.gz"]
	if _, err := Load(root, "mnist", Train, opts...); err != nil {
		t.Fatal(err)
	}
	if good.hits["/mnist/train-images-idx3-ubyte.gz"] != before {
		t.Fatal("a present file was downloaded again")
	}

	// Download fetches what is still missing (the test split).
	if err := Download(root, "mnist", opts...); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(root, "mnist", Test, noDownload); err != nil {
		t.Fatal(err)
	}
}

func TestDownloadChecksumMismatch(t *testing.T) {
	files := smallMNIST()
	src := mnistSources(t, files, "") // checksums of the real files...
	tampered := servedPaths(files, "/mnist/")
	tampered["/mnist/train-images-idx3-ubyte.gz"] = gzipBytes([]byte("not the published file"))
	srv := newFileServer(t, tampered) // ...but one served file differs
	for k, r := range src {
		r.urls = []string{srv.URL + "/mnist/" + strings.TrimPrefix(k, "mnist/")}
		src[k] = r
	}
	root := t.TempDir()
	_, err := Load(root, "mnist", Train, withSources(src), WithProgress(nil))
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want *MissingError", err)
	}
	wantErr(t, err, "mnist/train-images-idx3-ubyte.gz not found in "+root, "the download failed", srv.URL, "MD5 ", "corrupt or not the published file", "to fix")
	if _, err := os.Stat(filepath.Join(root, "mnist", "train-images-idx3-ubyte.gz")); err == nil {
		t.Fatal("a file that failed verification was kept under its final name")
	}
	noPartials(t, root)

	// SHA-256 alone is verified too.
	r := src["mnist/train-images-idx3-ubyte.gz"]
	r.md5 = ""
	src["mnist/train-images-idx3-ubyte.gz"] = r
	_, err = Load(root, "mnist", Train, withSources(src), WithProgress(nil))
	wantErr(t, err, "SHA-256 ")
}

func TestDownloadBadTransfers(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 5000)
	m, s := sums(body)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/short": // announces more than it sends, then hangs up
			w.Header().Set("Content-Length", "5000")
			w.Write(body[:1000])
		case "/stall":
			w.Header().Set("Content-Length", "5000")
			w.Write(body[:1000])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		case "/big":
			w.Write(append(body, body...))
		}
	}))
	defer srv.Close()
	for _, tc := range []struct{ path, frag string }{
		{"/short", "unexpected EOF"},
		{"/stall", "no data received for 200ms after 1000 bytes"},
		{"/big", "more than the 5000 bytes expected"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			root := t.TempDir()
			src := map[string]remote{"x/f.bin": {path: "x/f.bin", md5: m, sha256: s, maxSize: 5000, urls: []string{srv.URL + tc.path}}}
			cfg := newConfig([]Option{withSources(src), withStall(200 * time.Millisecond), WithProgress(nil)})
			start := time.Now()
			err := cfg.fetch(root, "x/f.bin")
			wantErr(t, err, srv.URL+tc.path, tc.frag)
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("took %v", d)
			}
			if _, err := os.Stat(filepath.Join(root, "x", "f.bin")); err == nil {
				t.Fatal("a failed download left a file under the final name")
			}
			noPartials(t, root)
		})
	}
}

// TestOfflineFailsFast: with every source unreachable, one error names the
// file, the directory, each source's failure and the fix, within a second.
func TestOfflineFailsFast(t *testing.T) {
	a, b := closedURL(t), closedURL(t)
	src := mnistSources(t, smallMNIST(), a, b)
	root := t.TempDir()
	start := time.Now()
	_, err := Load(root, "mnist", Test, withSources(src), WithProgress(nil))
	if d := time.Since(start); d > time.Second {
		t.Fatalf("offline failure took %v", d)
	}
	wantErr(t, err, "mnist/t10k-images-idx3-ubyte.gz not found in "+root, "the download failed",
		a+"/mnist/t10k-images-idx3-ubyte.gz: ", b+"/mnist/t10k-images-idx3-ubyte.gz: ", "connection refused",
		"to fix", "retry with internet access", EnvDataDir)
}

func TestWithMirror(t *testing.T) {
	files := smallMNIST()
	mirror := newFileServer(t, servedPaths(files, "/base/mnist/"))
	src := mnistSources(t, files, closedURL(t))
	root := t.TempDir()
	if _, err := Load(root, "mnist", Test, withSources(src), WithMirror(mirror.URL+"/base/"), WithProgress(nil)); err != nil {
		t.Fatal(err)
	}
	if mirror.hits["/base/mnist/t10k-images-idx3-ubyte.gz"] != 1 {
		t.Fatalf("mirror hits %v", mirror.hits)
	}
}

func TestDownloadCIFARUnpacks(t *testing.T) {
	archive := cifarTarGz(t, cifarSet(2))
	archive = append([]byte{}, archive...)
	srv := newFileServer(t, map[string][]byte{"/cifar-10-binary.tar.gz": archive})
	m, _ := sums(archive)
	src := map[string]remote{cifarArchive: {path: cifarArchive, md5: m, maxSize: 1 << 20, urls: []string{closedURL(t), srv.URL + "/cifar-10-binary.tar.gz"}}}
	root := t.TempDir()
	im, err := Load(root, "cifar10", Test, withSources(src), WithProgress(nil))
	if err != nil {
		t.Fatal(err)
	}
	checkCIFARImages(t, im, Test, 2)
	for _, f := range append(cifarFiles(Train), "test_batch.bin", "batches.meta.txt") {
		if _, err := os.Stat(filepath.Join(root, cifarDir, f)); err != nil {
			t.Fatalf("not unpacked: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, cifarArchive)); err == nil {
		t.Fatal("the archive was kept after unpacking")
	}
	noPartials(t, root)
	if srv.hits["/cifar-10-binary.tar.gz"] != 1 {
		t.Fatalf("archive fetched %d times", srv.hits["/cifar-10-binary.tar.gz"])
	}
	if _, err := Load(root, "cifar10", Train, withSources(src), WithProgress(nil)); err != nil || srv.hits["/cifar-10-binary.tar.gz"] != 1 {
		t.Fatalf("train split after unpacking: %v, %d fetches", err, srv.hits["/cifar-10-binary.tar.gz"])
	}
}

func TestDownloadSST2(t *testing.T) {
	zipped := zipBytes(t, []zipEntry{
		{name: "SST-2/"},
		{name: "SST-2/train.tsv", body: []byte("sentence\tlabel\nhide new secretions \t0\n")},
		{name: "SST-2/dev.tsv", body: []byte("sentence\tlabel\nb\t1\n")},
		{name: "SST-2/test.tsv", body: []byte("index\tsentence\n0\tc\n")},
		{name: "SST-2/original/README.txt", body: []byte("x")},
	})
	srv := newFileServer(t, map[string][]byte{"/SST-2.zip": zipped})
	_, s := sums(zipped)
	src := map[string]remote{sst2Archive: {path: sst2Archive, sha256: s, maxSize: 1 << 20, urls: []string{srv.URL + "/SST-2.zip"}}}
	root := t.TempDir()
	// A labelled test.tsv already there is never replaced by GLUE's unlabelled one.
	writeFile(t, filepath.Join(root, "SST-2", "test.tsv"), []byte("sentence\tlabel\nmine\t1\n"))
	tr, err := LoadSST2(root, Train, withSources(src), WithProgress(nil))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Text[0] != "hide new secretions " || tr.Labels[0] != 0 {
		t.Fatalf("train %q %v", tr.Text, tr.Labels)
	}
	te, err := LoadSST2(root, Test, noDownload)
	if err != nil || te.Text[0] != "mine" || !te.Labelled() {
		t.Fatalf("test.tsv replaced: %+v %v", te, err)
	}
	if _, err := os.Stat(filepath.Join(root, "SST-2", "original")); err == nil {
		t.Fatal("unneeded members were unpacked")
	}
	if _, err := os.Stat(filepath.Join(root, sst2Archive)); err == nil {
		t.Fatal("the archive was kept after unpacking")
	}
	noPartials(t, root)
}

func TestZipSafety(t *testing.T) {
	for _, tc := range []struct {
		name  string
		e     zipEntry
		frags []string
	}{
		{"traversal", zipEntry{name: "SST-2/../../evil.tsv", body: []byte("x")}, []string{"escapes the destination"}},
		{"absolute", zipEntry{name: "/SST-2/train.tsv", body: []byte("x")}, []string{"absolute path"}},
		{"backslash", zipEntry{name: "SST-2\\..\\evil", body: []byte("x")}, []string{"backslash"}},
		{"symlink", zipEntry{name: "SST-2/train.tsv", body: []byte("/etc/passwd"), mode: os.ModeSymlink | 0o777}, []string{"only regular files"}},
		{"oversize", zipEntry{name: "SST-2/train.tsv", body: make([]byte, 200)}, []string{"200 bytes, more than the 100 allowed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dest := filepath.Join(root, "data")
			archive := filepath.Join(root, "a.zip")
			writeFile(t, archive, zipBytes(t, []zipEntry{tc.e}))
			err := extractZip(archive, dest, func(string) bool { return true }, 100)
			wantErr(t, err, append(tc.frags, archive)...)
			if _, err := os.Stat(filepath.Join(root, "evil.tsv")); err == nil {
				t.Fatal("written outside the destination")
			}
		})
	}
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.zip"), []byte("PK not really"))
	wantErr(t, extractZip(filepath.Join(root, "a.zip"), root, func(string) bool { return true }, 100), "not a readable zip archive")
}

func TestDownloadUnknownSet(t *testing.T) {
	wantErr(t, Download(t.TempDir(), "imagenet", noDownload), `unknown data set "imagenet"`)
}

// TestOfficialSources checks the catalogue is complete and well-formed (no network).
func TestOfficialSources(t *testing.T) {
	for _, set := range []string{"mnist", "fashion-mnist"} {
		for _, split := range []Split{Train, Test} {
			img, lbl := idxNames(split)
			for _, f := range []string{img, lbl} {
				r, ok := officialSources[set+"/"+f]
				if !ok || len(r.urls) < 2 || (len(r.md5) != 32 && len(r.sha256) != 64) {
					t.Errorf("%s/%s: %+v", set, f, r)
				}
			}
		}
	}
	for _, k := range []string{cifarArchive, sst2Archive} {
		if r := officialSources[k]; len(r.urls) < 2 || (len(r.md5) != 32 && len(r.sha256) != 64) {
			t.Errorf("%s: %+v", k, r)
		}
	}
	for k, r := range officialSources {
		for _, h := range []string{r.md5, r.sha256} {
			if _, err := hex.DecodeString(h); err != nil {
				t.Errorf("%s: checksum %q: %v", k, h, err)
			}
		}
	}
}
