// Command sealfs creates, mounts and inspects sealfs stores.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
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

func main() {
	if isMountHelper(os.Args[0]) {
		os.Exit(runMountHelper(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := rootCommand()
	// Never nil: given nil, cobra reads os.Args.
	root.SetArgs(append([]string{}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil && len(args) == 0 {
		return exitUsage // the usage is printed, but a command was wanted
	}
	return report(cmd, err, stderr)
}

// report prints err as one line, "sealfs CMD: message", and returns the
// exit status it stands for.
func report(cmd *cobra.Command, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	switch {
	// The root runs nothing itself: its only errors are cobra's for an
	// unknown command.
	case errors.As(err, new(usageError)), !cmd.HasParent():
		return exitUsage
	case errors.Is(err, errPending):
		return exitPending
	}
	return exitFailure
}

// rootCommand is the whole command tree; cobra adds help and completion.
func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "sealfs COMMAND [flags] [args]",
		Short: "an encrypted backup filesystem",
		Long: `sealfs is an encrypted backup filesystem: mount it and copy backups into it with the usual
tools; what it keeps on disk and in its bucket is ciphertext (but for the directories whose
encryption is switched off).

The store and the key file are found by --store and --key-file, else $SEALFS_STORE and
$SEALFS_KEY_FILE, else $XDG_DATA_HOME/sealfs and $XDG_CONFIG_HOME/sealfs/master.key. A store
with a passphrase or recovery-code slot (sealfs key add) also unlocks with --passphrase-file
or $SEALFS_PASSPHRASE_FILE, --passphrase-command, or a prompt when stdin is a terminal.

Exit status: 0 success; 1 a failure while working (and check found damage); 2 bad input,
nothing changed; 3 mount ended with uploads still pending (the next mount resumes them).`,
		Version:       version,
		SilenceErrors: true, // run prints them, in one line
		SilenceUsage:  true,
		// An unknown command is one line, without suggestions below it.
		DisableSuggestions: true,
		// No "Auto generated" line with today's date in the man pages:
		// docs/man must be the same on every run.
		DisableAutoGenTag: true,
	}
	root.SetVersionTemplate("sealfs {{.Version}}\n")
	// Now, not at the first run, so that the man page lists it.
	root.InitDefaultVersionFlag()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetHelpCommand(helpCommand())
	// Help lists the commands in the order they are added: a store's life.
	cobra.EnableCommandSorting = false
	root.AddCommand(initCommand(), mountCommand(), lsCommand(), statusCommand(), syncCommand(),
		remoteCommand(), keyCommand(), recoverCommand(), catCommand(), encryptionCommand(), backupCommand(),
		scheduleCommand(), pruneCommand(), versionsCommand(), undeleteCommand(), shredCommand(), webCommand(), checkCommand(),
		versionCommand(), manCommand())
	return root
}

// wrongArgs is the error for positional arguments that do not fit cmd.
func wrongArgs(cmd *cobra.Command) error {
	return badInput("usage: %s", cmd.UseLine())
}

// groupRun is the RunE of a command that only holds subcommands: without
// one, or with an unknown one, it is bad input.
func groupRun(cmd *cobra.Command, args []string) error {
	names := subcommandNames(cmd, "")
	want := strings.Join(names, ", ")
	if n := len(names); n > 1 {
		want = strings.Join(names[:n-1], ", ") + " or " + names[n-1]
	}
	if len(args) == 0 {
		return badInput("want a command: %s (see %s --help)", want, cmd.CommandPath())
	}
	return badInput("unknown command %q: want %s", args[0], want)
}

// subcommandNames lists the names of the subcommands of cmd that a user
// may call and that start with prefix.
func subcommandNames(cmd *cobra.Command, prefix string) []string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() && strings.HasPrefix(c.Name(), prefix) {
			names = append(names, c.Name())
		}
	}
	return names
}

// helpCommand is cobra's help command, except that help for a command
// that does not exist is bad input (exit 2), not the usage and exit 0.
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]...",
		Short: "print the help of a command",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, rest, err := cmd.Root().Find(args)
			if err != nil {
				return usageError{err}
			}
			if len(rest) > 0 {
				return badInput("unknown command %q for %q", rest[0], c.CommandPath())
			}
			c.InitDefaultHelpFlag() // as running c would: --help is in its help
			return c.Help()
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			c, _, err := cmd.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return subcommandNames(c, prefix), cobra.ShellCompDirectiveNoFileComp
		},
	}
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return badInput("unexpected argument %q", args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sealfs %s\n", version)
			return nil
		},
	}
}
