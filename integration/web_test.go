package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// webURL waits for the URL the daemon prints for --web and returns its
// base and token.
func webURL(t *testing.T, m *sealfsMount) (base, token string) {
	t.Helper()
	if !m.waitForLog("web page and metrics at ", 30*time.Second) {
		t.Fatalf("no web URL printed:\n%s", m.Stderr())
	}
	u := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/\?token=([0-9a-f]+)`).FindStringSubmatch(m.Stderr())
	if u == nil {
		t.Fatalf("no web URL in:\n%s", m.Stderr())
	}
	return u[1], u[2]
}

// scrape reads /metrics with the token and parses it as Prometheus does.
func scrape(t *testing.T, base, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics with the token: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok || len(f.Metric) == 0 {
		t.Fatalf("/metrics has no %s", name)
	}
	m := f.Metric[0]
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("%s is neither counter nor gauge", name)
	return 0
}

// TestWebTokenAndMetrics: the web listener answers nothing but 401
// without the token; the printed URL sets an HttpOnly, SameSite=Strict
// cookie that then works; a request from another origin is refused;
// /metrics parses with the Prometheus parser and its figures move as
// files are written and uploaded; a non-loopback address without TLS is
// refused at mount.
func TestWebTokenAndMetrics(t *testing.T) {
	_, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key), withMountArgs("--seal-after", "0s", "--web", "127.0.0.1:0"))
	base, token := webURL(t, m)
	if fi, err := os.Stat(filepath.Join(store, "web.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v, %v", fi, err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, mod func(*http.Request)) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if mod != nil {
			mod(req)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for name, mod := range map[string]func(*http.Request){
		"no token":     nil,
		"wrong bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+strings.Repeat("0", 64)) },
		"wrong cookie": func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "sealfs_token", Value: "x"}) },
	} {
		if resp, body := get("/metrics", mod); resp.StatusCode != http.StatusUnauthorized || body != "unauthorized\n" {
			t.Errorf("%s: %s %q, want 401 and nothing else", name, resp.Status, body)
		}
	}
	resp, _ := get("/metrics?token="+token, nil)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "sealfs_token" {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Refresh") != "0; url=/metrics" || cookie == nil ||
		!cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("the printed URL: %s, Refresh %q, cookie %+v", resp.Status, resp.Header.Get("Refresh"), cookie)
	}
	if resp, _ := get("/metrics", func(r *http.Request) { r.AddCookie(cookie) }); resp.StatusCode != http.StatusOK {
		t.Errorf("with the cookie: %s", resp.Status)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/metrics", strings.NewReader(""))
	req.AddCookie(cookie)
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := noRedirect.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a POST from another origin: %v, %v; want 403", resp.Status, err)
	}

	before := scrape(t, base, token)
	objects := metricValue(t, before, "sealfs_uploaded_objects_total")
	for i := range 3 {
		mustWriteFile(t, filepath.Join(m.Dir, fmt.Sprintf("f%d", i)), randomBytes(uint64(i), 10000), 0o644)
	}
	syncWait(t, store, key)
	after := scrape(t, base, token)
	if got := metricValue(t, after, "sealfs_uploaded_objects_total"); got < objects+3 {
		t.Errorf("uploaded objects %v after three files, %v before", got, objects)
	}
	if metricValue(t, after, "sealfs_lease_held") != 1 || metricValue(t, after, "sealfs_pending_files") != 0 {
		t.Errorf("lease %v pending %v", metricValue(t, after, "sealfs_lease_held"), metricValue(t, after, "sealfs_pending_files"))
	}
	if last := metricValue(t, after, "sealfs_last_sync_timestamp_seconds"); time.Since(time.Unix(int64(last), 0)) > 10*time.Minute {
		t.Errorf("last sync %v", last)
	}

	r := runSealfs(t, nil, "mount", "--store", t.TempDir(), "--web", "0.0.0.0:0", filepath.Join(t.TempDir()))
	if r.Code != 2 || !strings.Contains(r.Stderr, "not a loopback address") {
		t.Errorf("--web on 0.0.0.0 without TLS: exit %d, %q", r.Code, r.Stderr)
	}
}

// TestWebDownloads: /download streams a file's plaintext with the right
// headers, answers curl's ranges and resumes (-r, -C -) with the right
// bytes, streams a directory as a .tar.gz that extracts to the tree, and
// cuts the download of a damaged file instead of finishing it.
func TestWebDownloads(t *testing.T) {
	requireTools(t, "curl", "tar", "diff")
	m := mountSealfs(t, withMountArgs("--web", "127.0.0.1:0"))
	base, token := webURL(t, m)
	want := randomBytes(5, 3<<20+17)
	mustMkdir(t, filepath.Join(m.Dir, "dl"), 0o755)
	mustWriteFile(t, filepath.Join(m.Dir, "dl", "f.bin"), want, 0o644)
	src := filepath.Join(t.TempDir(), "tree")
	generateSourceTree(t, src)
	runToolOK(t, "cp", "-a", src, filepath.Join(m.Dir, "dl", "tree"))
	auth := "Authorization: Bearer " + token
	out := t.TempDir()

	runToolOK(t, "curl", "-sSf", "-H", auth, "-o", filepath.Join(out, "whole"), base+"/download?path=/dl/f.bin")
	compareBytes(t, filepath.Join(out, "whole"), want)
	req, _ := http.NewRequest(http.MethodHead, base+"/download?path=/dl/f.bin", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Length") != fmt.Sprint(len(want)) || !strings.Contains(resp.Header.Get("Content-Disposition"), `filename=f.bin`) ||
		resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("headers: %v", resp.Header)
	}
	runToolOK(t, "curl", "-sSf", "-H", auth, "-r", "1000-1999", "-o", filepath.Join(out, "range"), base+"/download?path=/dl/f.bin")
	compareBytes(t, filepath.Join(out, "range"), want[1000:2000])
	mustWriteFile(t, filepath.Join(out, "resumed"), want[:1<<20], 0o644)
	runToolOK(t, "curl", "-sSf", "-H", auth, "-C", "-", "-o", filepath.Join(out, "resumed"), base+"/download?path=/dl/f.bin")
	compareBytes(t, filepath.Join(out, "resumed"), want)

	runToolOK(t, "curl", "-sSf", "-H", auth, "-o", filepath.Join(out, "tree.tar.gz"), base+"/download?path=/dl/tree")
	mustMkdir(t, filepath.Join(out, "x"), 0o755)
	runToolOK(t, "tar", "xzf", filepath.Join(out, "tree.tar.gz"), "-C", filepath.Join(out, "x"))
	diffTrees(t, src, filepath.Join(out, "x", "tree"))

	if r := runTool(t, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", base+"/download?path=/dl/f.bin"); r.Stdout != "401" {
		t.Errorf("a download without the token: %q", r.Stdout)
	}
	// A flipped bit in the middle of the file's ciphertext: the download
	// stops there, and curl says it is cut.
	data := dataFileOf(t, m.Store, cipherSize(int64(len(want))))
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	b[2<<20] ^= 1
	if err := os.WriteFile(data, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runTool(t, "curl", "-sS", "-H", auth, "-o", filepath.Join(out, "damaged"), base+"/download?path=/dl/f.bin")
	if r.Code == 0 {
		t.Errorf("curl of a damaged file succeeded")
	}
	if got, _ := os.ReadFile(filepath.Join(out, "damaged")); len(got) >= len(want) {
		t.Errorf("the damaged download holds %d bytes, the whole file", len(got))
	}
}

// TestWebCommand: `sealfs web` starts the page on a running daemon's
// listener and prints its URL; asked again it gives the same one; without
// a mount it is a one-line error, exit 2.
func TestWebCommand(t *testing.T) {
	m := mountSealfs(t)
	args := []string{"web", "--store", m.Store, "--key-file", m.Key, "127.0.0.1:0"}
	first := runSealfsOK(t, args...)
	u := regexp.MustCompile(`^sealfs: web page and metrics at (http://127\.0\.0\.1:\d+)/\?token=([0-9a-f]{64}) \(until the unmount\)\n$`).FindStringSubmatch(first.Stdout)
	if u == nil {
		t.Fatalf("sealfs web printed %q", first.Stdout)
	}
	mustWriteFile(t, filepath.Join(m.Dir, "f"), []byte("x"), 0o644)
	if fams := scrape(t, u[1], u[2]); fams["sealfs_pending_files"] == nil {
		t.Errorf("/metrics on the listener sealfs web started lacks sealfs_pending_files")
	}
	if again := runSealfsOK(t, args...); again.Stdout != first.Stdout || !strings.Contains(again.Stderr, "serving 127.0.0.1:0 already") {
		t.Errorf("sealfs web again: %q %q, want the same URL", again.Stdout, again.Stderr)
	}
	if r := runSealfs(t, nil, "web", "--store", m.Store, "--key-file", m.Key, "0.0.0.0:0"); r.Code != 2 || !strings.Contains(r.Stderr, "not a loopback address") {
		t.Errorf("sealfs web 0.0.0.0:0: exit %d, %q", r.Code, r.Stderr)
	}
	m.Unmount(t)
	r := runSealfs(t, nil, args...)
	if r.Code != 2 || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, "is not mounted") {
		t.Errorf("sealfs web unmounted: exit %d, %q", r.Code, r.Stderr)
	}
}
