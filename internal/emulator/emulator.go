// Package emulator runs the bucket emulators of the tests (gcsemu, s3emu) as
// child processes: built once per test binary without the race detector,
// started on 127.0.0.1, killed by PID when the test ends.
//
// Packages whose tests start emulators wrap their tests in RunTests, which
// removes the built programs at the end:
//
//	func TestMain(m *testing.M) { os.Exit(emulator.RunTests(m, nil)) }
package emulator

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// buildTimeout bounds one `go build` of an emulator on a loaded
	// 2-core machine with a cold build cache.
	buildTimeout = 10 * time.Minute
	// startTimeout bounds an emulator's start-up, which on a busy machine
	// is a page-in of a 30 MB binary.
	startTimeout = 60 * time.Second
	// controlTimeout bounds one control request.
	controlTimeout = 30 * time.Second
)

// Names of the emulator programs.
const (
	GCS = "gcsemu"
	S3  = "s3emu"
)

var builds struct {
	mu   sync.Mutex
	dir  string            // holds the built programs; "" until the first build
	bins map[string]string // name -> path
	run  bool              // RunTests is in charge of removing dir
}

// RunTests runs the tests, through run when it is not nil (a package's own
// set-up around m.Run), and removes the emulators built meanwhile.
func RunTests(m *testing.M, run func(*testing.M) int) int {
	builds.mu.Lock()
	builds.run = true
	builds.mu.Unlock()
	defer Cleanup()
	if run == nil {
		return m.Run()
	}
	return run(m)
}

// Cleanup removes the built emulators. Programs that are not tests (the
// benchmarks) defer it after their last Launch.
func Cleanup() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
		builds.dir, builds.bins = "", nil
	}
}

// binary builds the named emulator once and returns its path.
func binary(name string) (string, error) {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if p, ok := builds.bins[name]; ok {
		return p, nil
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "sealfs-emulators-")
		if err != nil {
			return "", err
		}
		builds.dir, builds.bins = dir, map[string]string{}
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(builds.dir, name)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	// No -race: the point of a separate process is an emulator at full speed.
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/sealfs/sealfs/internal/emulator/"+name)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", name, err, out)
	}
	builds.bins[name] = bin
	return bin, nil
}

// Process is a running emulator.
type Process struct {
	name    string
	data    string // 127.0.0.1:port of the service
	control string // 127.0.0.1:port of the control server
	cmd     *exec.Cmd
	exited  chan struct{}
	output  *limitedBuffer
}

// Start launches the named emulator and kills it when t ends.
func Start(t testing.TB, name string) *Process {
	t.Helper()
	builds.mu.Lock()
	managed := builds.run
	builds.mu.Unlock()
	if !managed {
		t.Fatalf("emulator: this package's TestMain must call emulator.RunTests")
	}
	p, err := Launch(name)
	if err != nil {
		t.Fatalf("emulator: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// Launch starts the named emulator; Close stops it.
func Launch(name string) (*Process, error) {
	bin, err := binary(name)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	out := &limitedBuffer{}
	cmd.Stderr = out
	// An emulator must not outlive a test binary that dies (go test's
	// timeout, a panic).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, exited: make(chan struct{}), output: out}
	ready := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		ready <- line
		io.Copy(out, r) //nolint:errcheck // output is for failure messages only
	}()
	go func() {
		cmd.Wait() //nolint:errcheck // the exit of a killed emulator is expected
		close(p.exited)
	}()
	select {
	case line := <-ready:
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "data":
				p.data = v
			case "control":
				p.control = v
			}
		}
		if p.data == "" || p.control == "" {
			p.Close()
			return nil, fmt.Errorf("%s did not start (said %q):\n%s", name, line, out.String())
		}
	case <-time.After(startTimeout):
		p.Close()
		return nil, fmt.Errorf("%s did not start within %v:\n%s", name, startTimeout, out.String())
	}
	return p, nil
}

// Close kills the emulator (by its PID) and waits for it.
func (p *Process) Close() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Addr is the service's 127.0.0.1:port, fixed for the process's life.
func (p *Process) Addr() string { return p.data }

// Endpoint is the service's base URL.
func (p *Process) Endpoint() string { return "http://" + p.data }

// Stop takes the service down as in an outage: connections are refused and
// those open are dropped; objects and upload sessions stay.
func (p *Process) Stop() error { return p.post("/stop", nil) }

// Restart brings the service back on the same port.
func (p *Process) Restart() error { return p.post("/restart", nil) }

// CreateBucket creates an empty bucket.
func (p *Process) CreateBucket(name string) error {
	return p.post("/bucket", url.Values{"name": {name}})
}

func (p *Process) post(path string, q url.Values) error {
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	u := "http://" + p.control + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", p.name, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", p.name, path, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
