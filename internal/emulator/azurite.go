package emulator

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// azuriteCommand is the npm package's blob-only entry point.
const azuriteCommand = "azurite-blob"

// StartAzurite runs azurite-blob on a free port of 127.0.0.1 with in-memory
// storage, waits until the port answers, and returns the port. t.Cleanup
// kills the process (by its PID) and reaps it.
func StartAzurite(t testing.TB) int {
	t.Helper()
	path, err := exec.LookPath(azuriteCommand)
	if err != nil {
		t.Fatalf("%s not found in PATH: run scripts/test.sh, which installs it (npm install -g azurite@3.35.0)", azuriteCommand)
	}
	port := freePort(t)
	// --location and --inMemoryPersistence exclude each other; the
	// working directory catches whatever Azurite still writes (debug log).
	cmd := exec.Command(path,
		"--blobHost", "127.0.0.1",
		"--blobPort", strconv.Itoa(port),
		"--inMemoryPersistence",
		"--skipApiVersionCheck",
		"--silent")
	cmd.Dir = t.TempDir()
	var output limitedBuffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", azuriteCommand, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	if err := waitForPort(port, exited, &waitErr); err != nil {
		t.Fatalf("%s on 127.0.0.1:%d: %v\n%s", azuriteCommand, port, err, output.String())
	}
	return port
}

// freePort asks the kernel for a port nobody listens on. Another process
// could take it before Azurite binds it; start-up then fails loudly.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitForPort polls until a TCP connection to port succeeds, the process
// exits (closing exited after setting *waitErr), or startTimeout passes.
func waitForPort(port int, exited <-chan struct{}, waitErr *error) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited during start-up: %v", *waitErr)
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not listening after %v", startTimeout)
}
