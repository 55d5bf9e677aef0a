package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runCLI runs a sealfs command line in-process.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// commandPaths lists every command a user may call, as its words after
// "sealfs" (schedule add is {"schedule", "add"}), with its flags.
func commandPaths() map[string]*cobra.Command {
	paths := map[string]*cobra.Command{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				paths[strings.TrimPrefix(sub.CommandPath(), "sealfs ")] = sub
				walk(sub)
			}
		}
	}
	walk(rootCommand())
	if len(paths) < 20 {
		panic("the command tree is missing commands")
	}
	return paths
}

// TestHelp: help CMD and CMD --help print the same help on stdout, with
// every flag of the command, and exit 0.
func TestHelp(t *testing.T) {
	for path, cmd := range commandPaths() {
		words := strings.Fields(path)
		code, stdout, stderr := runCLI(append([]string{"help"}, words...)...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "Usage:") {
			t.Errorf("sealfs help %s: exit %d, stderr %q, stdout:\n%s", path, code, stderr, stdout)
			continue
		}
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			if !strings.Contains(stdout, "--"+f.Name+" ") {
				t.Errorf("sealfs help %s does not show --%s:\n%s", path, f.Name, stdout)
			}
		})
		if !strings.Contains(stdout, "--help") {
			t.Errorf("sealfs help %s does not show --help:\n%s", path, stdout)
		}
		code, flagOut, _ := runCLI(append(words, "--help")...)
		if code != 0 || flagOut != stdout {
			t.Errorf("sealfs %s --help: exit %d, and a help unlike sealfs help %s:\n%s", path, code, path, flagOut)
		}
	}
}

// TestLsShorthands: ls keeps -r and -h (its sizes, not help).
func TestLsShorthands(t *testing.T) {
	cmd := lsCommand()
	if err := cmd.ParseFlags([]string{"/dir", "-r", "-h"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"recursive", "human-readable"} {
		if on, err := cmd.Flags().GetBool(name); err != nil || !on {
			t.Errorf("ls -r -h: --%s is %v (%v)", name, on, err)
		}
	}
	if code, stdout, _ := runCLI("ls", "--help"); code != 0 || !strings.Contains(stdout, "-h, --human-readable") {
		t.Errorf("ls --help: exit %d:\n%s", code, stdout)
	}
}

func TestVersion(t *testing.T) {
	want := "sealfs " + version + "\n"
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		if code, stdout, stderr := runCLI(args...); code != 0 || stdout != want || stderr != "" {
			t.Errorf("sealfs %s: exit %d, stdout %q, stderr %q; want 0 and %q", args[0], code, stdout, stderr, want)
		}
	}
}

// TestNoCommand: sealfs alone prints the usage and exits 2.
func TestNoCommand(t *testing.T) {
	code, stdout, stderr := runCLI()
	if code != exitUsage || stderr != "" || !strings.Contains(stdout, "Usage:") || !strings.Contains(stdout, "schedule") {
		t.Errorf("sealfs: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
}

// checkOneLine asserts exit 2, nothing on stdout and the one line want
// (or a line starting with want, when it ends in "...") on stderr.
func checkOneLine(t *testing.T, args []string, code int, stdout, stderr, want string) {
	t.Helper()
	line, ok := strings.CutSuffix(stderr, "\n")
	matches := line == want
	if prefix, isPrefix := strings.CutSuffix(want, "..."); isPrefix {
		matches = strings.HasPrefix(line, prefix)
	}
	if code == exitUsage && stdout == "" && ok && !strings.Contains(line, "\n") && matches {
		return
	}
	t.Errorf("sealfs %q: exit %d, stdout %q, stderr %q; want exit 2, nothing on stdout, one line %q", args, code, stdout, stderr, want)
}

// TestBadFlag: a mistyped flag or a bad flag value is one line on stderr,
// naming the command, and exit 2.
func TestBadFlag(t *testing.T) {
	for path := range commandPaths() {
		args := append(strings.Fields(path), "--no-such-flag")
		code, stdout, stderr := runCLI(args...)
		checkOneLine(t, args, code, stdout, stderr, "sealfs "+path+": unknown flag: --no-such-flag")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--no-such-flag"}, "sealfs: unknown flag: --no-such-flag"},
		{[]string{"ls", "-x"}, "sealfs ls: unknown shorthand flag: 'x' in -x"},
		{[]string{"mount", "--workers", "many", "/mnt"}, `sealfs mount: invalid argument "many" for "--workers" flag...`},
		{[]string{"mount", "--cache-max", "1Q", "/mnt"}, `sealfs mount: invalid argument "1Q" for "--cache-max" flag: want a size like 512M or 20G`},
		{[]string{"sync", "--wait", "--timeout", "soon"}, `sealfs sync: invalid argument "soon" for "--timeout" flag...`},
		{[]string{"schedule", "add", "--keep-last", "x"}, `sealfs schedule add: invalid argument "x" for "--keep-last" flag...`},
		{[]string{"init", "--store"}, "sealfs init: flag needs an argument: --store"},
	} {
		code, stdout, stderr := runCLI(c.args...)
		checkOneLine(t, c.args, code, stdout, stderr, c.want)
	}
}

// TestUnknownCommand: a command that does not exist, or a group without
// its subcommand, is one line on stderr and exit 2.
func TestUnknownCommand(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `sealfs: unknown command "bogus" for "sealfs"`},
		{[]string{"bogus", "--store", "x"}, `sealfs: unknown command "bogus" for "sealfs"`},
		{[]string{"schedule", "bogus"}, `sealfs schedule: unknown command "bogus": want add, list, remove or run`},
		{[]string{"schedule"}, "sealfs schedule: want a command: add, list, remove or run (see sealfs schedule --help)"},
		{[]string{"remote"}, "sealfs remote: want a command: set (see sealfs remote --help)"},
		{[]string{"remote", "get"}, `sealfs remote: unknown command "get": want set`},
		{[]string{"help", "bogus"}, `sealfs help: unknown command "bogus" for "sealfs"`},
		{[]string{"help", "schedule", "bogus"}, `sealfs help: unknown command "bogus" for "sealfs schedule"`},
	} {
		code, stdout, stderr := runCLI(c.args...)
		checkOneLine(t, c.args, code, stdout, stderr, c.want)
	}
}

// TestFlagsAfterPositionals: flags may follow the positional arguments;
// after "--" everything is positional.
func TestFlagsAfterPositionals(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-store")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ls", "/dir", "--store", missing, "-r"}, "sealfs ls: store " + missing + " does not exist"},
		{[]string{"cat", "--store", missing, "--", "--json"}, "sealfs cat: store " + missing + " does not exist..."},
		{[]string{"mount", t.TempDir(), "--store", missing, "--workers", "0"}, "sealfs mount: --workers must be at least 1"},
		{[]string{"schedule", "remove", "--store", missing, "nightly", "extra"}, "sealfs schedule remove: usage: sealfs schedule remove [flags] NAME"},
	} {
		code, stdout, stderr := runCLI(c.args...)
		checkOneLine(t, c.args, code, stdout, stderr, c.want)
	}
	if _, err := os.Lstat(missing); !os.IsNotExist(err) {
		t.Errorf("a refused command created %s (lstat: %v)", missing, err)
	}
}

// TestCompletion: cobra's completion scripts, and the completions they
// ask sealfs for: the commands, and a command's flags.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, stdout, stderr := runCLI("completion", shell)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "__complete") || !strings.Contains(stdout, "sealfs") {
			t.Errorf("sealfs completion %s: exit %d, stderr %q, %d bytes", shell, code, stderr, len(stdout))
		}
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{""}, []string{"init", "mount", "ls", "schedule", "remote", "version", "help", "completion"}},
		{[]string{"sch"}, []string{"schedule"}},
		{[]string{"schedule", ""}, []string{"add", "list", "remove", "run"}},
		{[]string{"ls", "--"}, []string{"--recursive", "--human-readable", "--json", "--store", "--key-file"}},
		{[]string{"mount", "/mnt", "--cache"}, []string{"--cache-max"}},
		{[]string{"help", "sch"}, []string{"schedule"}},
	} {
		code, stdout, _ := runCLI(append([]string{"__completeNoDesc"}, c.args...)...)
		got := strings.Split(strings.TrimSpace(stdout), "\n")
		for _, w := range c.want {
			if code != 0 || !slices.Contains(got, w) {
				t.Errorf("completing sealfs %q: exit %d, %q; want %s among them", c.args, code, got, w)
			}
		}
		if slices.Contains(got, "man") {
			t.Errorf("completing sealfs %q offers the hidden man command", c.args)
		}
	}
}

// TestManPagesFresh regenerates the man pages: docs/man must hold exactly
// them (after a change to a command: rm docs/man/*.1 && go run ./cmd/sealfs man docs/man).
func TestManPagesFresh(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI("man", dir); code != 0 {
		t.Fatalf("sealfs man: exit %d: %s", code, stderr)
	}
	fresh, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	committed, _ := filepath.Glob(filepath.Join("..", "..", "docs", "man", "*.1"))
	names := func(paths []string) (out []string) {
		for _, p := range paths {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if !slices.Equal(names(fresh), names(committed)) {
		t.Fatalf("docs/man is stale: it holds %q, sealfs man writes %q", names(committed), names(fresh))
	}
	for _, p := range fresh {
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("..", "..", "docs", "man", filepath.Base(p)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("docs/man/%s is stale (%v): regenerate it with go run ./cmd/sealfs man docs/man", filepath.Base(p), err)
		}
	}
	if len(fresh) < 20 || !slices.Contains(names(fresh), "sealfs-schedule-add.1") {
		t.Errorf("sealfs man wrote %q", names(fresh))
	}
	page, _ := os.ReadFile(filepath.Join(dir, "sealfs-backup.1"))
	if !bytes.Contains(page, []byte("NAME-<UTC time>.tar.gz")) {
		t.Errorf("sealfs-backup.1 lost the <UTC time> of the archive names:\n%s", page)
	}
}
