package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/keyslot"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// minPassphrase is the shortest passphrase a slot takes.
const minPassphrase = 8

func keyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key COMMAND",
		Short: "list, add, remove and change the key slots that unlock the store; rotate the master key",
		Long: `A store's master key is unlocked through key slots: key files (which hold the master key
itself), passphrases (Argon2id) and recovery codes (shown once). Every command that opens
a store takes --key-file, --passphrase-file (or $SEALFS_PASSPHRASE_FILE) or
--passphrase-command, or asks for a passphrase when stdin is a terminal. A recovery code is
given wherever a passphrase is. The slots travel with the store and to its bucket, so
sealfs recover takes any slot's secret. key rotate replaces the master key itself.`,
		RunE: groupRun,
	}
	cmd.AddCommand(keyListCommand(), keyAddCommand(), keyRemoveCommand(), keyPasswdCommand(), keyRotateCommand())
	return cmd
}

// keyStore unlocks the store of loc for a slot change and returns its key
// and config; the store need not be unmounted (slots have their own lock).
func keyStore(loc *location) (*crypto.MasterKey, store.Config, error) {
	if err := loc.resolve(); err != nil {
		return nil, store.Config{}, err
	}
	key, err := loc.unlock()
	if err != nil {
		return nil, store.Config{}, err
	}
	cfg, err := store.CheckKey(loc.store, key)
	if err != nil {
		return nil, store.Config{}, usageError{err}
	}
	if cfg.Format < 2 || cfg.StoreID == "" {
		return nil, store.Config{}, badInput("%s: store has format %d; mount it once to upgrade it first", loc.store, cfg.Format)
	}
	return key, cfg, nil
}

func keyListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "list the key slots (never a secret)",
	}
	var loc location
	loc.register(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) != 0 {
			return wrongArgs(cmd)
		}
		key, cfg, err := keyStore(&loc)
		if err != nil {
			return err
		}
		f, err := keyslot.Read(loc.store, cfg.StoreID, cfg.KeyID)
		if err != nil {
			return err
		}
		if err := f.Verify(key); err != nil {
			return usageError{err}
		}
		printSlots(cmd.OutOrStdout(), f)
		return nil
	}
	return cmd
}

func printSlots(w io.Writer, f *keyslot.File) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tKIND\tCREATED\tLAST USED")
	day := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	}
	for _, s := range f.Slots {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.Kind, day(s.Created), day(s.LastUsed))
	}
	tw.Flush()
}

// kdfCost registers the hidden --kdf-cost flag: Argon2id parameters for a
// new passphrase, "TIME,MEMORY_KIB,THREADS". Tests use cheap ones; users
// keep the defaults (crypto.DefaultArgon2).
func kdfCost(fl *pflag.FlagSet) *string {
	s := fl.String("kdf-cost", "", "Argon2id passes,memory KiB,threads of a new passphrase")
	_ = fl.MarkHidden("kdf-cost")
	return s
}

func parseKDFCost(s string) (crypto.Argon2Params, error) {
	if s == "" {
		return crypto.DefaultArgon2, nil
	}
	var p crypto.Argon2Params
	if _, err := fmt.Sscanf(s, "%d,%d,%d", &p.Time, &p.MemoryKiB, &p.Threads); err != nil {
		return p, badInput("--kdf-cost %q: want TIME,MEMORY_KIB,THREADS", s)
	}
	if err := p.Check(); err != nil {
		return p, usageError{err}
	}
	return p, nil
}

// newPassphrase reads a new passphrase from file, or asks for it twice on
// the terminal.
func newPassphrase(file string) ([]byte, error) {
	var p []byte
	switch {
	case file != "":
		var err error
		if p, err = readSecretFile(file); err != nil {
			return nil, err
		}
	case term.IsTerminal(int(os.Stdin.Fd())):
		var err error
		if p, err = prompt("New passphrase: "); err != nil {
			return nil, err
		}
		again, err := prompt("Repeat it: ")
		if err != nil {
			clear(p)
			return nil, err
		}
		same := bytes.Equal(p, again)
		clear(again)
		if !same {
			clear(p)
			return nil, badInput("the passphrases differ; nothing changed")
		}
	default:
		return nil, badInput("no new passphrase: give --new-passphrase-file FILE, or run on a terminal to be asked")
	}
	if len(p) < minPassphrase {
		clear(p)
		return nil, badInput("a passphrase has at least %d characters", minPassphrase)
	}
	return p, nil
}

func keyAddCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add (--passphrase [--new-passphrase-file F] | --key-file FILE | --recovery-code) [flags]",
		Short: "add a key slot: a passphrase, a key file or a recovery code",
		Long: `Add a key slot. --passphrase takes the new passphrase from --new-passphrase-file or asks
for it twice. --key-file FILE writes a new copy of the master key to FILE (mode 0600; an
existing file is never overwritten). --recovery-code prints a new code once: write it down.
Unlock this command itself with --unlock-key-file, --passphrase-file or --passphrase-command.`,
	}
	fl := cmd.Flags()
	var loc location
	loc.registerAs(fl, "unlock-key-file")
	pass := fl.Bool("passphrase", false, "add a passphrase slot")
	passFile := fl.String("new-passphrase-file", "", "the new passphrase, on this file's first line (else asked on the terminal)")
	keyFile := fl.String("key-file", "", "add a key-file slot: write the master key to this new file")
	code := fl.Bool("recovery-code", false, "add a recovery-code slot and print its code, once")
	cost := kdfCost(fl)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		n := 0
		for _, b := range []bool{*pass, *keyFile != "", *code} {
			if b {
				n++
			}
		}
		if len(args) != 0 || n != 1 || (*passFile != "" && !*pass) {
			return wrongArgs(cmd)
		}
		params, err := parseKDFCost(*cost)
		if err != nil {
			return err
		}
		key, cfg, err := keyStore(&loc)
		if err != nil {
			return err
		}
		stdout := cmd.OutOrStdout()
		switch {
		case *pass:
			p, err := newPassphrase(*passFile)
			if err != nil {
				return err
			}
			defer clear(p)
			var s *keyslot.Slot
			err = keyslot.Update(loc.store, cfg.StoreID, key, func(f *keyslot.File) (err error) {
				s, err = f.AddPassphrase(key, p, params)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "added passphrase slot %s\n", s.ID)
		case *keyFile != "":
			if _, err := os.Lstat(*keyFile); err == nil {
				return badInput("key file %s already exists; refusing to overwrite it", *keyFile)
			}
			if err := crypto.WriteKeyFile(*keyFile, key); err != nil {
				return err
			}
			var s *keyslot.Slot
			err = keyslot.Update(loc.store, cfg.StoreID, key, func(f *keyslot.File) (err error) {
				s, err = f.AddKeyFile()
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "added key-file slot %s: %s holds the master key; keep it as safe as the data\n", s.ID, *keyFile)
		default:
			var s *keyslot.Slot
			var text string
			err = keyslot.Update(loc.store, cfg.StoreID, key, func(f *keyslot.File) (err error) {
				s, text, err = f.AddRecoveryCode(key)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "added recovery-code slot %s; its code, shown this once (it unlocks the store as a passphrase does; write it down and keep it apart from the data):\n\n    %s\n\n", s.ID, text)
		}
		return nil
	}
	return cmd
}

func keyRemoveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove SLOT [flags]",
		Short: "remove a key slot (never the last one)",
	}
	var loc location
	loc.register(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return wrongArgs(cmd)
		}
		key, cfg, err := keyStore(&loc)
		if err != nil {
			return err
		}
		var removed keyslot.Slot
		err = keyslot.Update(loc.store, cfg.StoreID, key, func(f *keyslot.File) (err error) {
			removed, err = f.Remove(args[0])
			return err
		})
		if err != nil {
			return usageError{err}
		}
		fmt.Fprintf(cmd.OutOrStdout(), "removed %s slot %s\n", removed.Kind, removed.ID)
		if removed.Kind == keyslot.KeyFile {
			fmt.Fprintf(cmd.ErrOrStderr(), "sealfs: a key file holds the master key itself: delete every copy of it; one that is kept still decrypts this store's data and bucket\n")
		}
		return nil
	}
	return cmd
}

func keyPasswdCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "passwd SLOT [flags]",
		Short: "change the passphrase of a passphrase slot",
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	passFile := fl.String("new-passphrase-file", "", "the new passphrase, on this file's first line (else asked on the terminal)")
	cost := kdfCost(fl)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return wrongArgs(cmd)
		}
		params, err := parseKDFCost(*cost)
		if err != nil {
			return err
		}
		key, cfg, err := keyStore(&loc)
		if err != nil {
			return err
		}
		// The slot is checked before the new passphrase is asked for.
		f, err := keyslot.Read(loc.store, cfg.StoreID, cfg.KeyID)
		if err != nil {
			return err
		}
		if s, err := f.Find(args[0]); err != nil {
			return usageError{err}
		} else if s.Kind != keyslot.Passphrase {
			return badInput("slot %s is a %s slot; only a passphrase slot has a passphrase to change", s.ID, s.Kind)
		}
		p, err := newPassphrase(*passFile)
		if err != nil {
			return err
		}
		defer clear(p)
		err = keyslot.Update(loc.store, cfg.StoreID, key, func(f *keyslot.File) error {
			return f.Passwd(key, args[0], p, params)
		})
		if err != nil {
			return usageError{err}
		}
		fmt.Fprintf(cmd.OutOrStdout(), "changed the passphrase of slot %s\n", args[0])
		return nil
	}
	return cmd
}
