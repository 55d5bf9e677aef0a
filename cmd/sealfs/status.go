package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sealfs/sealfs/remote/uploader"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
)

// statusReport is `sealfs status`.
type statusReport struct {
	Store      string `json:"store"`
	Mounted    bool   `json:"mounted"`
	Mountpoint string `json:"mountpoint,omitempty"`
	uploader.Status
	Lease string `json:"lease"`
}

func daemonStatus(st *store.Store, sy *syncer, mnt string) (statusReport, error) {
	r := statusReport{Store: st.Dir, Mounted: true, Mountpoint: mnt, Lease: "none (no remote)"}
	if sy == nil {
		qs, err := uploader.QueueStatus(st.Meta)
		r.Status = qs
		return r, err
	}
	us, err := sy.up.Status()
	r.Status, r.Lease = us, "held by this store"
	return r, err
}

func statusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status [flags]",
		Short: "show the upload queue, the remote and the lease",
		Long:  "Show the remote, the pending files and bytes, the oldest pending, the upload rate, the last error and the lease.",
	}
	var loc location
	loc.register(cmd.Flags())
	asJSON := cmd.Flags().Bool("json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) != 0 {
			return badInput("unexpected argument %q", args[0])
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		r, err := fetchStatus(loc)
		if err != nil {
			return err
		}
		stdout := cmd.OutOrStdout()
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		}
		printStatus(stdout, r)
		return nil
	}
	return cmd
}

func fetchStatus(loc location) (statusReport, error) {
	if !store.Exists(loc.store) {
		return statusReport{}, badInput("store %s does not exist", loc.store)
	}
	if c := daemonClient(loc.store); c != nil {
		var r statusReport
		return r, daemonJSON(c, http.MethodGet, "/status", &r)
	}
	st, _, err := openAt(loc, true)
	if err != nil {
		return statusReport{}, err
	}
	defer st.Close()
	qs, err := uploader.QueueStatus(st.Meta)
	qs.URL = st.Config.Remote
	lease := "not held (not mounted)"
	if qs.URL == "" {
		lease = "none (no remote)"
	}
	return statusReport{Store: st.Dir, Status: qs, Lease: lease}, err
}

func printStatus(w io.Writer, r statusReport) {
	remoteURL := r.URL
	if remoteURL == "" {
		remoteURL = "(none)"
	}
	fmt.Fprintf(w, "store:           %s\n", r.Store)
	if r.Mounted {
		fmt.Fprintf(w, "mounted:         %s\n", quoteName(r.Mountpoint))
	} else {
		fmt.Fprintf(w, "mounted:         no\n")
	}
	fmt.Fprintf(w, "remote:          %s\n", remoteURL)
	fmt.Fprintf(w, "pending:         %d files, %d bytes\n", r.PendingFiles, r.PendingBytes)
	if !r.OldestPending.IsZero() {
		fmt.Fprintf(w, "oldest pending:  %s ago\n", time.Since(r.OldestPending).Round(time.Second))
	}
	fmt.Fprintf(w, "upload rate:     %.1f MB/s\n", r.RateBytesSec/1e6)
	if r.Failing > 0 {
		fmt.Fprintf(w, "failing:         %d files\n", r.Failing)
	}
	if r.LastError != "" {
		fmt.Fprintf(w, "last error:      %s (%s)\n", r.LastError, r.LastErrorAt.Local().Format(time.DateTime))
	}
	fmt.Fprintf(w, "lease:           %s\n", r.Lease)
}

// daemonJSON calls the daemon and decodes its JSON answer into out. An
// answer 400 is the caller's mistake (exit 2).
func daemonJSON(c *http.Client, method, path string, out any) error {
	req, err := http.NewRequest(method, "http://sealfs"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("ask the mounted daemon: %w", err)
	}
	return daemonReply(resp, out)
}

// daemonReply decodes the daemon's JSON answer into out (nil: none
// wanted) and closes it.
func daemonReply(resp *http.Response, out any) error {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		err := &daemonError{status: resp.StatusCode, msg: trimNewline(string(msg))}
		if resp.StatusCode == http.StatusBadRequest {
			return usageError{err}
		}
		return err
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

type daemonError struct {
	status int
	msg    string
}

func (e *daemonError) Error() string { return e.msg }
