package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/recovery"
	"github.com/spf13/cobra"
)

// recoverMemoryLimit is the soft limit of recover's Go heap.
const recoverMemoryLimit = 128 << 20

func recoverCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recover --remote URL [flags]",
		Short: "rebuild a store from its bucket and the key, on a new machine",
		Long: `Rebuild a store on a new machine from the bucket it synced to and the master key: the
newest snapshot (or --snapshot ID), with the files read from the bucket on first read (or
all of them now, verified, with --download).`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	url := fl.String("remote", "", "the bucket URL the lost store synced to (required)")
	credsFile := fl.String("credentials-file", "", "bucket credentials; kept sealed in the new store")
	snap := fl.String("snapshot", "", "restore this snapshot (by ID) instead of the newest")
	dl := fl.Bool("download", false, "download and verify every file now (default: on first read)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) != 0 || *url == "" {
			return wrongArgs(cmd)
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		stdout := cmd.OutOrStdout()
		ub, err := openBucketUnlocked(loc, *url, *credsFile)
		if err != nil {
			return err
		}
		b, key, sealed := ub.bucket, ub.key, ub.sealed
		defer b.Close()
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		opts := recovery.Options{Bucket: b, Key: key, Store: loc.store, Sealed: sealed, Slots: ub.slots, Snapshot: *snap, Download: *dl}
		if *dl {
			opts.Progress = newProgress(stdout, "downloading", "downloaded")
		}
		// A recovery of any size should fit beside other work: the Go heap is
		// kept near what is live (about 70 MiB for a tree of 11,000 files)
		// instead of growing to twice that between collections.
		debug.SetMemoryLimit(recoverMemoryLimit)
		rep, err := recovery.Recover(ctx, opts)
		if errors.Is(err, recovery.ErrBadInput) {
			return usageError{err}
		}
		if rep != nil {
			printReport(stdout, loc.store, rep)
		}
		return err
	}
	return cmd
}

func printReport(w io.Writer, dir string, rep *recovery.Report) {
	fmt.Fprintf(w, "recovered store %s from snapshot %s taken %s\n", dir, rep.Snapshot.ID(), rep.Snapshot.Taken().Format(time.RFC3339))
	fmt.Fprintf(w, "files: %d, bytes: %d\n", rep.Files, rep.Bytes)
	if len(rep.Newer) > 0 {
		fmt.Fprintf(w, "note: snapshots %v are newer than the newest manifest (a crash between two uploads, or a deleted manifest); --snapshot ID restores one\n", rep.Newer)
	}
	if rep.Downloaded > 0 || len(rep.Damaged) > 0 {
		fmt.Fprintf(w, "downloaded and verified: %d files\n", rep.Downloaded)
	}
	for _, p := range rep.Missing {
		fmt.Fprintf(w, "missing from the bucket (reads EIO): %s\n", quoteName(p))
	}
	for _, p := range rep.Damaged {
		fmt.Fprintf(w, "damaged in the bucket (reads EIO): %s\n", quoteName(p))
	}
	if len(rep.Missing)+len(rep.Damaged) == 0 {
		fmt.Fprintln(w, "every file's content is in the bucket")
	}
}
