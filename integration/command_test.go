package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// commandTimeout bounds every tool and CLI invocation of the tests.
const commandTimeout = 5 * time.Minute

// cmdResult is what a finished command printed and how it exited.
type cmdResult struct {
	Stdout, Stderr string
	Code           int
}

// sealfsEnv is the environment of every sealfs process: the caller's,
// without SEALFS_* and XDG_* variables, with HOME and the XDG directories
// pointing into a temporary directory so nothing touches the real home.
func sealfsEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SEALFS_") || strings.HasPrefix(name, "XDG_") || name == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
	)
}

// runSealfs runs the sealfs CLI to completion and returns its output and
// exit status. env adjusts sealfsEnv: "NAME=value" sets a variable, a bare
// "NAME" removes it.
func runSealfs(t *testing.T, env []string, args ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, sealfsBin, args...)
	cmd.Env = adjustEnv(sealfsEnv(t), env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("sealfs %q timed out after %v; stderr:\n%s", args, commandTimeout, stderr.String())
	}
	code := exitCode(err)
	if code < 0 {
		t.Fatalf("sealfs %q: %v; stderr:\n%s", args, err, stderr.String())
	}
	return cmdResult{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

// adjustEnv applies changes ("NAME=value" sets, "NAME" removes) to env.
func adjustEnv(env, changes []string) []string {
	for _, c := range changes {
		name, _, set := strings.Cut(c, "=")
		kept := env[:0:0]
		for _, kv := range env {
			if n, _, _ := strings.Cut(kv, "="); n != name {
				kept = append(kept, kv)
			}
		}
		env = kept
		if set {
			env = append(env, c)
		}
	}
	return env
}

// runSealfsOK runs the sealfs CLI and fails the test unless it exits 0.
func runSealfsOK(t *testing.T, args ...string) cmdResult {
	t.Helper()
	r := runSealfs(t, nil, args...)
	if r.Code != 0 {
		t.Fatalf("sealfs %q exited %d; stderr:\n%s", args, r.Code, r.Stderr)
	}
	return r
}

// runTool runs an external command and returns its exit status and output.
func runTool(t *testing.T, name string, args ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %q timed out after %v", name, args, commandTimeout)
	}
	code := exitCode(err)
	if code < 0 {
		t.Fatalf("%s %q: %v; stderr:\n%s", name, args, err, stderr.String())
	}
	return cmdResult{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

// runToolOK runs an external command, fails the test unless it exits 0 and
// returns its standard output.
func runToolOK(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := runTool(t, name, args...)
	if r.Code != 0 {
		t.Fatalf("%s %q exited %d; stderr:\n%s\nstdout:\n%s", name, args, r.Code, r.Stderr, tail(r.Stdout, 20))
	}
	return r.Stdout
}

// requireTools fails the test when a tool it needs is not installed.
func requireTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Fatalf("%s is not installed (scripts/test.sh installs fuse3, rsync and attr): %v", n, err)
		}
	}
}

func mustMkdir(t *testing.T, dir string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, perm); err != nil {
		t.Fatal(err)
	}
}

func mustWriteFile(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
}
