package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/sealfs/sealfs/store"
)

// errSyncTimeout makes `sealfs sync --wait` exit 1.
var errSyncTimeout = errors.New("timed out with uploads pending")

func runSync(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("sync", "--wait [--store DIR] [--timeout D]", stdout)
	var loc location
	loc.register(fl)
	wait := fl.Bool("wait", false, "wait until everything written before the call is in the bucket")
	timeout := fl.Duration("timeout", 0, "give up after this long (exit 1); 0 waits indefinitely")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	if !*wait {
		return badInput("only --wait is supported: uploads run by themselves while mounted")
	}
	if fl.NArg() != 0 || *timeout < 0 {
		return badInput("usage: sealfs sync --wait [--timeout D]")
	}
	if err := loc.resolve(); err != nil {
		return err
	}
	if !store.Exists(loc.store) {
		return badInput("store %s does not exist", loc.store)
	}
	c := daemonClient(loc.store)
	if c == nil {
		return badInput("store %s is not mounted: mount it to upload what is pending", loc.store)
	}
	q := url.Values{}
	if *timeout > 0 {
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
