package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
)

// errSyncTimeout makes `sealfs sync --wait` exit 1.
var errSyncTimeout = errors.New("timed out with uploads pending")

func syncCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync --wait [flags]",
		Short: "wait until what was written is in the bucket (--wait)",
		Long: `Wait until everything written before the call is in the bucket, together with a metadata
snapshot that names it (so it is recoverable). Exit 0 then, 1 on timeout.`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	wait := fl.Bool("wait", false, "wait until everything written before the call is in the bucket")
	timeout := fl.Duration("timeout", 0, "give up after this long (exit 1); 0 waits indefinitely")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !*wait {
			return badInput("only --wait is supported: uploads run by themselves while mounted")
		}
		if len(args) != 0 || *timeout < 0 {
			return wrongArgs(cmd)
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		return waitSynced(loc, *timeout, cmd.ErrOrStderr())
	}
	return cmd
}

// waitSynced asks the mounted daemon of loc to upload what is pending and
// waits for it, up to timeout (0: no limit).
func waitSynced(loc location, timeout time.Duration, stderr io.Writer) error {
	if !store.Exists(loc.store) {
		return badInput("store %s does not exist", loc.store)
	}
	c := daemonClient(loc.store)
	if c == nil {
		return badInput("store %s is not mounted: mount it to upload what is pending", loc.store)
	}
	q := url.Values{}
	if timeout > 0 {
		q.Set("timeout", timeout.String())
	}
	var res syncResult
	err := daemonJSON(c, http.MethodPost, "/sync?"+q.Encode(), &res)
	if err == nil && res.StillOpen > 0 {
		fmt.Fprintf(stderr, "sealfs: %d files are still open for writing; they are uploaded when closed\n", res.StillOpen)
	}
	var de *daemonError
	switch {
	case errors.As(err, &de) && de.status == http.StatusRequestTimeout:
		return fmt.Errorf("%w after %v: %s", errSyncTimeout, timeout.Round(time.Millisecond), de.msg)
	case errors.As(err, &de) && de.status == http.StatusConflict:
		return usageError{err}
	}
	return err
}
