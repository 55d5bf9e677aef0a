// Command sealfs creates, mounts and inspects sealfs stores.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit statuses: 2 for bad input (flags, key, store, mountpoint), which
// never changes anything stored; 1 for failures while working; 3 for a
// mount that ended with uploads still pending (the next mount resumes them).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitPending = 3
)

// usageError marks errors that are the caller's to fix; they exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func badInput(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"init", "create a new store and master key", runInit},
	{"mount", "mount a store (foreground, until unmounted or signalled)", runMount},
	{"ls", "list files with size, encryption, sync state and modification time", runLs},
	{"status", "show the upload queue, the remote and the lease", runStatus},
	{"sync", "wait until what was written is in the bucket (--wait)", runSync},
	{"remote", "set the bucket URL and credentials (remote set URL)", runRemote},
	{"recover", "rebuild a store from its bucket and the key, on a new machine", runRecover},
	{"cat", "write one file's plaintext to stdout (from the mount, the store or a bucket alone)", runCat},
	{"encryption", "show or switch a directory's encryption: encryption [on|off] DIR", runEncryption},
	{"backup", "write a tar.gz of directories into the filesystem (/backups/NAME/NAME-<time>.tar.gz)", runBackup},
	{"schedule", "add, list, remove or run scheduled backups (run by the mounted daemon)", runSchedule},
	{"prune", "apply a backup's retention rules (--dry-run: say which rule keeps each archive)", runPrune},
	{"versions", "list the kept versions of a file: current, replaced and deleted", runVersions},
	{"undelete", "bring back a deleted file or an earlier version of one", runUndelete},
	{"check", "verify the store (and its bucket copy): exit 0 clean, 1 damage found", runCheck},
	{"version", "print the version", runVersion},
}

func main() {
	if isMountHelper(os.Args[0]) {
		os.Exit(runMountHelper(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "sealfs %s: %v\n", c.name, err)
			return exitUsage
		case errors.Is(err, errPending):
			fmt.Fprintf(stderr, "sealfs %s: %v\n", c.name, err)
			return exitPending
		default:
			fmt.Fprintf(stderr, "sealfs %s: %v\n", c.name, err)
			return exitFailure
		}
	}
	fmt.Fprintf(stderr, "sealfs: unknown command %q (see sealfs --help)\n", args[0])
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "sealfs: an encrypted backup filesystem\n\nUsage: sealfs COMMAND [flags] [args]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'sealfs COMMAND --help' for the flags of a command.")
}

// newFlags makes a flag set whose errors come back as usage errors (one
// line on stderr, from run) and whose --help prints the usage to stdout.
func newFlags(name, usage string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// The flag package calls Usage on any error; only --help prints it
	// (parseFlags), so a mistyped flag is one line, not a page.
	fs.Usage = func() {}
	usages.Store(fs, func() {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "Usage: sealfs %s %s\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	})
	return fs
}

// usages holds each flag set's --help printer.
var usages sync.Map // *flag.FlagSet -> func()

// parseFlags parses args, with flags before or after the positional
// arguments (sealfs mount MNT --allow-other works); fs.Args() returns the
// positional ones. Bad flags become usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			if print, ok := usages.Load(fs); ok {
				print.(func())()
			}
			return err
		}
		if err != nil {
			return usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			positional = append(positional, args[1:]...)
			break
		}
		positional, args = append(positional, args[0]), args[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sealfs %s\n", version)
	return nil
}
