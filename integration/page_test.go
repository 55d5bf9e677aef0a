package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// browserSession is a headless Chromium driven over the DevTools protocol,
// with downloads saved into dir under their GUIDs.
type browserSession struct {
	ctx context.Context
	dir string

	mu        sync.Mutex
	completed map[string]bool // download GUIDs
	started   chan string
}

// startBrowser runs Debian's chromium headless (scripts/test.sh installs
// it); it is stopped when the test ends.
func startBrowser(t *testing.T) *browserSession {
	t.Helper()
	var exe string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		t.Fatal("chromium is not installed (scripts/test.sh installs it: apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // tests run as root, where Chromium's sandbox refuses to start
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	// A generous bound on the whole session: a busy machine is slow, a
	// hung browser must still end the test.
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	b := &browserSession{ctx: ctx, dir: t.TempDir(), completed: map[string]bool{}, started: make(chan string, 16)}
	onEvent := func(ev any) {
		switch e := ev.(type) {
		case *browser.EventDownloadWillBegin:
			b.started <- e.GUID
		case *browser.EventDownloadProgress:
			if e.State == browser.DownloadProgressStateCompleted {
				b.mu.Lock()
				b.completed[e.GUID] = true
				b.mu.Unlock()
			}
		}
	}
	// The first action opens the tab, which lives as long as the context
	// of that call: the session's, not one step's.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if err := chromedp.ListenBrowser(ctx, onEvent); err != nil {
		t.Fatalf("chromium events: %v", err)
	}
	events := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: b.dir, EventsEnabled: &events,
	}); err != nil {
		t.Fatalf("chromium downloads: %v", err)
	}
	return b
}

// stepTimeout bounds one browser step (a page load, a wait for an
// element): generous for a busy machine, short of the whole session.
const stepTimeout = time.Minute

// do runs the steps in the browser's tab.
func (b *browserSession) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v (%s)", err, b.where())
	}
}

// get runs one action that returns a value.
func get[T any](t *testing.T, b *browserSession, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v (%s)", err, b.where())
	}
	return v
}

// where says what the tab shows, for a failure's message.
func (b *browserSession) where() string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText.slice(0, 500) : ''"))
	return fmt.Sprintf("the tab shows %s: %q", loc, body)
}

// download clicks the link sel and returns the downloaded file's bytes.
func (b *browserSession) download(t *testing.T, sel string) []byte {
	t.Helper()
	b.do(t, chromedp.Click(chromedp.CSS(sel)))
	var guid string
	select {
	case guid = <-b.started:
	case <-time.After(2 * time.Minute):
		t.Fatalf("clicking %s started no download", sel)
	}
	mustWait(t, 3*time.Minute, "download "+sel, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.completed[guid]
	})
	got, err := os.ReadFile(filepath.Join(b.dir, guid))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (b *browserSession) text(t *testing.T, sel string) string {
	t.Helper()
	return strings.TrimSpace(get(t, b, chromedp.Text(chromedp.CSS(sel))))
}

// mustWait polls cond until it holds, failing the test after timeout.
func mustWait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitFor(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// rowOf is the selector of the page's Backups row for an archive.
func rowOf(archive string) string { return fmt.Sprintf(`tr.backup[data-path=%q]`, archive) }

// TestBackupsPageInBrowser drives the page in headless Chromium: with the
// printed URL it shows an encrypted and a plain backup with their
// Encrypted indicators; Download gives back the archives' exact bytes and
// a directory's .tar.gz extracts to the tree; "Run now" runs a schedule
// and its archive appears; the toggle switches a directory's encryption;
// a form posted from another origin is refused and changes nothing; and
// without the token there is nothing but 401.
func TestBackupsPageInBrowser(t *testing.T) {
	requireTools(t, "tar", "diff")
	src := filepath.Join(t.TempDir(), "app")
	generateSourceTree(t, src)
	m := mountSealfs(t, withMountArgs("--web", "127.0.0.1:0"))
	base, token := webURL(t, m)
	storeArgs := []string{"--store", m.Store, "--key-file", m.Key}
	enc := runBackup(t, m.Store, m.Key, "--name", "app", src)
	out := runSealfsOK(t, append(append([]string{"backup", "--plain", "--name", "conf"}, storeArgs...), src)...).Stdout
	match := backupLine.FindStringSubmatch(out)
	if match == nil || match[5] != "not encrypted" {
		t.Fatalf("plain backup printed %q", out)
	}
	plain := match[1]
	runSealfsOK(t, append(append([]string{"schedule", "add", "nightly", "--cron", "0 3 * * *", "--keep-last", "5"}, storeArgs...), src)...)
	runToolOK(t, "cp", "-a", src, filepath.Join(m.Dir, "tree"))

	b := startBrowser(t)
	b.do(t, chromedp.Navigate(base+"/?token="+token), chromedp.WaitVisible(chromedp.CSS("#backups")))
	url := get(t, b, chromedp.Location())
	if strings.Contains(url, token) {
		t.Errorf("the token stays in the address bar: %s", url)
	}
	for archive, want := range map[string]string{enc: "Encrypted", plain: "Not encrypted"} {
		if got := b.text(t, rowOf(archive)+" .enc"); !strings.HasSuffix(got, want) || (want == "Encrypted") != strings.Contains(got, "🔒") {
			t.Errorf("%s: the Encrypted indicator reads %q, want %q", archive, got, want)
		}
	}
	for _, archive := range []string{enc, plain} {
		want, err := os.ReadFile(filepath.Join(m.Dir, archive))
		if err != nil {
			t.Fatal(err)
		}
		if got := b.download(t, rowOf(archive)+" a.download"); sha(got) != sha(want) {
			t.Errorf("downloaded %s: %d bytes, sha256 %s; through the mount %d bytes, %s", archive, len(got), sha(got), len(want), sha(want))
		}
	}

	// A directory, browsed to through the tree, downloads as a .tar.gz.
	b.do(t, chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS(`tr.entry[data-path="/tree"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.entry[data-path="/tree/pkg"]`)))
	tgz := filepath.Join(t.TempDir(), "tree.tar.gz")
	mustWriteFile(t, tgz, b.download(t, "a.download-dir"), 0o600)
	x := t.TempDir()
	runToolOK(t, "tar", "xzf", tgz, "-C", x)
	diffTrees(t, src, filepath.Join(x, "tree"))

	// The toggle, on the directory shown.
	b.do(t, chromedp.Click(chromedp.CSS("button.toggle")), chromedp.WaitVisible(chromedp.CSS("#message")))
	if msg := b.text(t, "#message"); !strings.Contains(msg, "/tree: encryption off") {
		t.Errorf("after the toggle: %q", msg)
	}
	if got := runSealfsOK(t, append([]string{"encryption", "/tree"}, storeArgs...)...).Stdout; got != "/tree: encryption off\n" {
		t.Errorf("sealfs encryption /tree after the toggle: %q", got)
	}

	// Run now: the schedule runs in the background; its result shows
	// under Activity and its archive in the Backups list.
	b.do(t, chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS(`tr.schedule[data-name="nightly"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#message")))
	if msg := b.text(t, "#message"); !strings.Contains(msg, "nightly started") {
		t.Errorf("after Run now: %q", msg)
	}
	mustWait(t, 3*time.Minute, "the schedule's run on the page", func() bool {
		b.do(t, chromedp.Navigate(base+"/"))
		return strings.Contains(get(t, b, chromedp.TextContent(chromedp.CSS("#activity"))), "schedule nightly: done")
	})
	rows := get(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("tr.backup")].map(r => r.dataset.path)`))
	if len(rows) != 3 || !strings.HasPrefix(rows[0], "/backups/nightly/nightly-") {
		t.Errorf("backups listed after the run, newest first: %q", rows)
	}
	lastRun := scheduleLastStart(t, storeArgs)

	// A page of another origin (another port of 127.0.0.1) that posts the
	// form, even with the right form token, is refused.
	form := get(t, b, chromedp.AttributeValue(chromedp.CSS(`tr.schedule[data-name="nightly"] input[name="form"]`), "value")).Value
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/ui/run"><input name="form" value="%s"><input name="name" value="nightly"></form><script>document.getElementById("f").submit()</script>`,
			html.EscapeString(base), html.EscapeString(form))
	}))
	defer evil.Close()
	b.do(t, chromedp.Navigate(evil.URL))
	if !waitFor(time.Minute, func() bool { return strings.HasPrefix(get(t, b, chromedp.Location()), base) }) {
		t.Fatalf("the form of another origin was not posted: %s", b.where())
	}
	body := get(t, b, chromedp.TextContent(chromedp.CSS("body")))
	if !strings.Contains(body, "cross-origin") {
		t.Errorf("a POST from another origin got %q", body)
	}
	if got := scheduleLastStart(t, storeArgs); !got.Equal(lastRun) {
		t.Errorf("the cross-origin POST ran the schedule: last run %v, before %v", got, lastRun)
	}

	for _, p := range []string{"/", "/download?path=" + enc, "/static/style.css"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || string(got) != "unauthorized\n" {
			t.Errorf("GET %s without the token: %s %q", p, resp.Status, got)
		}
	}
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// scheduleLastStart is when the schedule nightly last ran.
func scheduleLastStart(t *testing.T, storeArgs []string) time.Time {
	t.Helper()
	var list []struct {
		Name string `json:"name"`
		Last struct {
			Start time.Time `json:"start"`
		} `json:"last"`
	}
	out := runSealfsOK(t, append([]string{"schedule", "list", "--json"}, storeArgs...)...).Stdout
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("schedule list --json: %v %q", err, out)
	}
	return list[0].Last.Start
}
