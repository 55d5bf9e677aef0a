package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealfs/sealfs/internal/emulator"
)

// sealfsBin is the path of the sealfs binary under test, set by TestMain.
var sealfsBin string

func TestMain(m *testing.M) {
	os.Exit(emulator.RunTests(m, runTests))
}

// runTests builds (or locates) the sealfs binary, then runs the tests. It is
// separate from TestMain so that deferred cleanups run before os.Exit.
func runTests(m *testing.M) int {
	if bin := os.Getenv("SEALFS_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "integration: SEALFS_BIN: %v\n", err)
			return 1
		}
		sealfsBin = abs
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "sealfs-integration-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := buildSealfs(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: cannot build the sealfs binary: %v\n", err)
		return 1
	}
	sealfsBin = bin
	return m.Run()
}

// buildSealfs compiles ./cmd/sealfs into dir, with the race detector when
// SEALFS_RACE=1, and returns the binary's path.
func buildSealfs(dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(dir, "sealfs")
	args := []string{"build", "-o", bin}
	if os.Getenv("SEALFS_RACE") == "1" {
		args = append(args, "-race")
	}
	args = append(args, "github.com/sealfs/sealfs/cmd/sealfs")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %v: %w\n%s", goTool, args, err, out)
	}
	return bin, nil
}
