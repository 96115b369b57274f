package datasets

import (
	"archive/tar"
	"archive/zip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// remote is one file a publisher serves: where it lands under the data
// directory (also its path under a WithMirror base URL), its sources in order
// of preference, its published checksums (hex; every given one is verified)
// and a size bound that keeps a wrong server from filling the disk.
type remote struct {
	path        string
	urls        []string
	md5, sha256 string
	maxSize     int64
}

func mnistRemote(name, md5sum, sha string) remote {
	return remote{path: "mnist/" + name, md5: md5sum, sha256: sha, maxSize: 64 << 20, urls: []string{
		"https://ossci-datasets.s3.amazonaws.com/mnist/" + name, // torchvision's mirror
		"https://storage.googleapis.com/cvdf-datasets/mnist/" + name,
		"http://yann.lecun.com/exdb/mnist/" + name,
	}}
}

func fashionRemote(name, md5sum string) remote {
	return remote{path: "fashion-mnist/" + name, md5: md5sum, maxSize: 64 << 20, urls: []string{
		"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" + name,
		"https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/" + name,
	}}
}

const sst2Archive = "SST-2.zip"

// officialSources: MNIST MD5s as published by torchvision, SHA-256s of the
// same (byte-identical) files; Fashion-MNIST MD5s from zalandoresearch's
// README; CIFAR-10's MD5 from its home page; SST-2.zip's SHA-256 as recorded
// by Hugging Face's GLUE loader.
var officialSources = map[string]remote{}

func init() {
	for _, r := range []remote{
		mnistRemote("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
		mnistRemote("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
		mnistRemote("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
		mnistRemote("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
		fashionRemote("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
		fashionRemote("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
		fashionRemote("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
		fashionRemote("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
		{path: cifarArchive, md5: "c32a1d4ab5d03f1284b67883e8d87530", maxSize: 256 << 20, urls: []string{
			"https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
			"https://storage.googleapis.com/s4tf-hosted-binaries/datasets/CIFAR10/cifar-10-binary.tar.gz",
		}},
		{path: sst2Archive, sha256: "d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa", maxSize: 64 << 20, urls: []string{
			"https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
			"https://firebasestorage.googleapis.com/v0/b/mtl-sentence-representations.appspot.com/o/data%2FSST-2.zip?alt=media&token=aabc5f6b-e466-44a2-b9b4-cf6337f84ac8",
		}},
	} {
		officialSources[r.path] = r
	}
}

// An Option adjusts Load, LoadSST2 and Download.
type Option func(*config)

type config struct {
	download bool
	norm     *Normalization
	progress io.Writer // nil: quiet
	mirrors  []string
	client   *http.Client
	sources  map[string]remote
	stall    time.Duration // abandon a download that receives nothing for this long
}

// defaultClient bounds every phase of a request, so that an offline machine
// fails at once (DNS) or within ~10 s (unreachable host).
var defaultClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: 30 * time.Second,
	IdleConnTimeout:       90 * time.Second,
	ForceAttemptHTTP2:     true,
}}

func newConfig(opts []Option) *config {
	c := &config{download: true, client: defaultClient, sources: officialSources, stall: time.Minute}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		c.progress = os.Stderr
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// WithoutDownload makes a missing file an error instead of a download.
func WithoutDownload() Option { return func(c *config) { c.download = false } }

// WithNormalization replaces the set's default per-channel mean and std.
func WithNormalization(n Normalization) Option {
	return func(c *config) { n := n.clone(); c.norm = &n }
}

// WithProgress sends download progress to w; nil silences it. The default is a
// progress bar on stderr when stderr is a terminal, and silence otherwise.
func WithProgress(w io.Writer) Option { return func(c *config) { c.progress = w } }

// WithMirror tries baseURL before the official sources. It must serve the
// files under their paths in the data directory ("mnist/train-images-idx3-ubyte.gz",
// "fashion-mnist/…") and the archives by name ("cifar-10-binary.tar.gz",
// "SST-2.zip"); their checksums are verified like any download.
func WithMirror(baseURL string) Option {
	return func(c *config) { c.mirrors = append(c.mirrors, strings.TrimSuffix(baseURL, "/")) }
}

func (c *config) note(format string, args ...any) {
	if c.progress != nil {
		fmt.Fprintf(c.progress, "datasets: "+format+"\n", args...)
	}
}

// Download fetches every missing file of a set — "mnist", "fashion-mnist",
// "cifar10" or "sst2" — into Dir(dir), so later loads need no network.
func Download(dir, name string, opts ...Option) error {
	cfg := newConfig(opts)
	root := Dir(dir)
	switch canonicalName(name) {
	case "mnist", "fashion-mnist":
		set := imageSets[canonicalName(name)]
		for _, split := range []Split{Train, Test} {
			img, lbl := idxNames(split)
			for _, f := range []string{img, lbl} {
				if _, err := cfg.locateIDX(root, set.dir, f); err != nil {
					return err
				}
			}
		}
	case "cifar10":
		files := append(cifarFiles(Train), cifarFiles(Test)...)
		archive, err := cfg.locateCIFAR(root, files)
		if err != nil {
			return err
		}
		if archive != "" { // present but not unpacked
			return cfg.unpackCIFAR(root, archive)
		}
	case "sst2":
		for _, split := range []Split{Train, Dev, Test} {
			if _, err := cfg.locateSST2(root, split); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("datasets: unknown data set %q (known: mnist, fashion-mnist, cifar10, sst2)", name)
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// locateIDX finds setDir/gzName, or its gunzipped twin, under root, downloading the .gz if neither is there.
func (c *config) locateIDX(root, setDir, gzName string) (string, error) {
	gz := filepath.Join(root, setDir, gzName)
	for _, p := range []string{gz, strings.TrimSuffix(gz, ".gz")} {
		if exists(p) {
			return p, nil
		}
	}
	rel := setDir + "/" + gzName
	if err := c.fetch(root, rel); err != nil {
		return "", fetchFailed(rel, root, err)
	}
	return gz, nil
}

// locateCIFAR returns "" when all files are in root/cifar-10-batches-bin, or
// the path of the official archive to read them from, downloading and
// unpacking it when neither is there.
func (c *config) locateCIFAR(root string, files []string) (archive string, err error) {
	missing := ""
	for _, f := range files {
		if !exists(filepath.Join(root, cifarDir, f)) {
			missing = cifarDir + "/" + f
			break
		}
	}
	if missing == "" {
		return "", nil
	}
	archive = filepath.Join(root, cifarArchive)
	if exists(archive) {
		return archive, nil
	}
	if err := c.fetch(root, cifarArchive); err != nil {
		return "", fetchFailed(missing+" (or "+cifarArchive+")", root, err)
	}
	return "", c.unpackCIFAR(root, archive)
}

// unpackCIFAR unpacks the official archive into root and removes it; on failure the archive stays.
func (c *config) unpackCIFAR(root, archive string) error {
	c.note("unpacking %s", archive)
	err := extractTarGz(archive, root, func(name string) bool { return path.Dir(name) == cifarDir }, cifarMaxFile)
	if err != nil {
		return err
	}
	return os.Remove(archive)
}

// locateSST2 finds SST-2/<split>.tsv under root, else unpacks GLUE's SST-2.zip
// from root, downloading it first if needed.
func (c *config) locateSST2(root string, split Split) (string, error) {
	rel := "SST-2/" + string(split) + ".tsv"
	p := filepath.Join(root, filepath.FromSlash(rel))
	if exists(p) {
		return p, nil
	}
	archive := filepath.Join(root, sst2Archive)
	if !exists(archive) { // an archive already there (placed by hand, or left by a failed unpack) is used as is
		if err := c.fetch(root, sst2Archive); err != nil {
			return "", fetchFailed(rel+" (or "+sst2Archive+")", root, err)
		}
	}
	c.note("unpacking %s", archive)
	want := func(name string) bool {
		return name == "SST-2/train.tsv" || name == "SST-2/dev.tsv" || name == "SST-2/test.tsv"
	}
	if err := extractZip(archive, root, want, 64<<20); err != nil {
		return "", err
	}
	if err := os.Remove(archive); err != nil {
		return "", err
	}
	if !exists(p) {
		return "", fmt.Errorf("datasets: %s holds no %s", sst2Archive, rel)
	}
	return p, nil
}

// fetch downloads the source of rel to root/rel, trying the mirrors and then the official URLs.
func (c *config) fetch(root, rel string) error {
	if !c.download {
		return errDownloadDisabled
	}
	src, ok := c.sources[rel]
	if !ok {
		return fmt.Errorf("no known source for %s", rel)
	}
	dst := filepath.Join(root, filepath.FromSlash(rel))
	// A directory that cannot take the file is reported before any transfer.
	if err := checkWritable(filepath.Dir(dst)); err != nil {
		return &WriteError{File: rel, Dir: root, Err: err}
	}
	urls := make([]string, 0, len(c.mirrors)+len(src.urls))
	for _, m := range c.mirrors {
		urls = append(urls, m+"/"+rel)
	}
	urls = append(urls, src.urls...)
	var errs []string
	for _, u := range urls {
		err := c.fetchURL(u, dst, rel, src)
		if err == nil {
			return nil
		}
		var we *WriteError
		if errors.As(err, &we) { // every other source would fail the same way
			we.File, we.Dir = rel, root
			return we
		}
		errs = append(errs, fmt.Sprintf("%s: %v", u, err))
	}
	return errors.New(strings.Join(errs, "; "))
}

// fetchURL downloads u into a temporary file beside dst, verifies its size and
// checksums, and only then renames it to dst.
func (c *config) fetchURL(u, dst, rel string, src remote) (err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	// Ask for the bytes as published: no transparent decompression of .gz files.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := c.client.Do(req)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			return ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	if resp.ContentLength > src.maxSize {
		return fmt.Errorf("server announces %d bytes, more than the %d expected at most", resp.ContentLength, src.maxSize)
	}
	// Directories are created only once a server answers: an offline attempt leaves no trace.
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return &WriteError{Err: err}
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.partial")
	if err != nil {
		return &WriteError{Err: err}
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	md5h, shah := md5.New(), sha256.New()
	disk := &recordingWriter{w: partialWriter(tmp)}
	writers := []io.Writer{disk, md5h, shah}
	if c.progress != nil {
		bar := progressbar.NewOptions64(resp.ContentLength,
			progressbar.OptionSetWriter(c.progress),
			progressbar.OptionSetDescription(rel),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(c.progress) }),
		)
		defer bar.Close()
		writers = append(writers, bar)
	}
	// A stalled transfer is abandoned after c.stall without data, however long the whole one takes.
	watchdog := time.AfterFunc(c.stall, cancel)
	defer watchdog.Stop()
	body := &stallReader{r: io.LimitReader(resp.Body, src.maxSize+1), timer: watchdog, d: c.stall}
	n, err := io.Copy(io.MultiWriter(writers...), body)
	if err != nil {
		if disk.err != nil {
			return &WriteError{Err: fmt.Errorf("after %d bytes: %w", n, disk.err)}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no data received for %v after %d bytes, abandoned", c.stall, n)
		}
		return fmt.Errorf("after %d bytes: %w", n, err)
	}
	if n > src.maxSize {
		return fmt.Errorf("more than the %d bytes expected at most", src.maxSize)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("received %d of %d bytes", n, resp.ContentLength)
	}
	if err = verify("MD5", md5h, src.md5); err != nil {
		return err
	}
	if err = verify("SHA-256", shah, src.sha256); err != nil {
		return err
	}
	if err = commitTemp(tmp, dst); err != nil {
		return &WriteError{Err: err}
	}
	return nil
}

// Test hooks: partialWriter is what a temporary file's content is written
// through (the file itself), replaced to simulate a full disk; syncFile is
// (*os.File).Sync, replaced by fuzz targets that unpack thousands of archives.
var (
	partialWriter = func(f *os.File) io.Writer { return f }
	syncFile      = (*os.File).Sync
)

// recordingWriter keeps its writer's error, telling a failing disk from a failing source.
type recordingWriter struct {
	w   io.Writer
	err error
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		r.err = err
	}
	return n, err
}

// commitTemp syncs and closes a complete temporary file and renames it to dst.
func commitTemp(tmp *os.File, dst string) error {
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil { // make the rename durable (best effort)
		syncFile(d)
		d.Close()
	}
	return nil
}

// checkWritable reports, without leaving anything behind, whether files can
// be created in dir or in the directories MkdirAll would create for it: the
// nearest existing ancestor must be a directory that takes a new file.
func checkWritable(dir string) error {
	p := dir
	for {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return &fs.PathError{Op: "create a directory under", Path: p, Err: syscall.ENOTDIR}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return err
		}
		p = parent
	}
	probe, err := os.CreateTemp(p, ".morphreuse-write-test-*")
	if err != nil {
		return err
	}
	probe.Close()
	return os.Remove(probe.Name())
}

func verify(algo string, h hash.Hash, want string) error {
	if want == "" {
		return nil
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(want) {
		return fmt.Errorf("%s %s, want %s: corrupt or not the published file", algo, got, want)
	}
	return nil
}

// stallReader pushes the watchdog back on every read that returns data.
type stallReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(s.d)
	}
	return n, err
}

// safeMemberName cleans an archive member name and refuses absolute paths,
// paths that climb out of the destination, backslashes and NULs.
func safeMemberName(name string) (string, error) {
	switch {
	case name == "":
		return "", errors.New("empty name")
	case strings.ContainsAny(name, "\\\x00"):
		return "", errors.New("backslash or NUL in name")
	case strings.HasPrefix(name, "/") || filepath.IsAbs(name) || filepath.VolumeName(name) != "":
		return "", errors.New("absolute path")
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", errors.New("path escapes the destination directory")
	}
	return clean, nil
}

// extractTarGz unpacks the regular-file members of archive that want accepts
// into root (see walkTarGz for what makes the archive unacceptable).
func extractTarGz(archive, root string, want func(name string) bool, maxMember int64) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	return unpackTarGz(archive, f, root, want, maxMember)
}

// unpackTarGz is extractTarGz on an open archive.
func unpackTarGz(archive string, r io.Reader, root string, want func(name string) bool, maxMember int64) error {
	return walkTarGz(archive, r, maxMember, func(name string, hdr *tar.Header, body io.Reader) error {
		if !want(name) {
			return nil
		}
		return writeMember(archive, root, name, body, maxMember)
	})
}

// extractZip unpacks the regular-file members of a zip archive that want
// accepts into root, refusing unsafe names, links, devices and oversize members.
func extractZip(archive, root string, want func(name string) bool, maxMember int64) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return fileErr(archive, "not a readable zip archive: %v", err)
	}
	defer zr.Close()
	return unpackZip(archive, &zr.Reader, root, want, maxMember)
}

// unpackZip is extractZip on an open archive.
func unpackZip(archive string, zr *zip.Reader, root string, want func(name string) bool, maxMember int64) error {
	for _, f := range zr.File {
		name, err := safeMemberName(f.Name)
		if err != nil {
			return fileErr(archive, "member %q: %v", f.Name, err)
		}
		mode := f.Mode()
		if mode.IsDir() {
			continue
		}
		if !mode.IsRegular() {
			return fileErr(archive, "member %q: %s (only regular files and directories are accepted)", f.Name, mode.Type())
		}
		if f.UncompressedSize64 > uint64(maxMember) {
			return fileErr(archive, "member %q: %d bytes, more than the %d allowed", f.Name, f.UncompressedSize64, maxMember)
		}
		if !want(name) {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return fileErr(archive, "member %q: %v", f.Name, err)
		}
		err = writeMember(archive, root, name, rc, maxMember)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeMember writes one archive member to root/name through a temporary file
// and a rename. An existing file is left as it is: unpacking never replaces data.
func writeMember(archive, root, name string, r io.Reader, maxMember int64) (err error) {
	dst := filepath.Join(root, filepath.FromSlash(name))
	if rel, err := filepath.Rel(root, dst); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fileErr(archive, "member %q: path escapes %s", name, root)
	}
	if exists(dst) {
		return nil
	}
	// A failure to write is the data directory's, not the archive's.
	writeErr := func(err error) error { return &WriteError{File: name, Dir: root, Err: err} }
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return writeErr(err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.partial")
	if err != nil {
		return writeErr(err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	disk := &recordingWriter{w: partialWriter(tmp)}
	n, err := io.Copy(disk, io.LimitReader(r, maxMember+1))
	if err != nil {
		if disk.err != nil {
			return writeErr(fmt.Errorf("unpacking %s after %d bytes: %w", filepath.Base(archive), n, disk.err))
		}
		return fileErr(archive, "member %q: %v", name, err)
	}
	if n > maxMember {
		return fileErr(archive, "member %q: more than the %d bytes allowed", name, maxMember)
	}
	if err = commitTemp(tmp, dst); err != nil {
		return writeErr(err)
	}
	return nil
}
