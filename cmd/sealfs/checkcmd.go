package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/sealfs/sealfs/check"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
)

func checkCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check [flags]",
		Short: "verify the store (and its bucket copy): exit 0 clean, 1 damage found",
		Long: `Verify every record and version of the store (and with --remote every synced object, by
listing), naming each damaged file by its path. --read-data authenticates every block.
Exit 0 when clean, 1 when damage is found.`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	withRemote := fl.Bool("remote", false, "check the bucket copy too: every synced version's object, by listing (no download unless --read-data)")
	readData := fl.Bool("read-data", false, "read and authenticate every block (of the bucket's objects too with --remote)")
	subsetText := fl.String("read-data-subset", "", "like --read-data, for a random N% of the files")
	repair := fl.Bool("repair", false, "remove ciphertext files no record names")
	asJSON := fl.Bool("json", false, "print the report as JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		stdout := cmd.OutOrStdout()
		if len(args) != 0 {
			return wrongArgs(cmd)
		}
		q := url.Values{}
		subset := 1.0
		if *subsetText != "" {
			if *readData {
				return badInput("give --read-data or --read-data-subset, not both")
			}
			n, err := strconv.ParseFloat(strings.TrimSuffix(*subsetText, "%"), 64)
			if err != nil || n <= 0 || n > 100 {
				return badInput("--read-data-subset wants a percentage in (0, 100], like 10%%")
			}
			subset, *readData = n/100, true
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		if !store.Exists(loc.store) {
			return badInput("store %s does not exist", loc.store)
		}
		q.Set("remote", strconv.FormatBool(*withRemote))
		q.Set("read_data", strconv.FormatBool(*readData))
		q.Set("subset", strconv.FormatFloat(subset, 'f', -1, 64))
		q.Set("repair", strconv.FormatBool(*repair))
		var rep *check.Report
		var err error
		if c := daemonClient(loc.store); c != nil {
			rep, err = checkThroughDaemon(c, q)
		} else {
			rep, err = checkStore(loc, *withRemote, *readData, subset, *repair, stdout, *asJSON)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			printCheck(stdout, rep, *withRemote)
		}
		if !rep.Clean() {
			return errDamageFound
		}
		return nil
	}
	return cmd
}

// errDamageFound makes check exit 1 once its report is printed.
var errDamageFound = fmt.Errorf("damage found (see the report above)")

func checkStore(loc location, withRemote, readData bool, subset float64, repair bool, stdout io.Writer, quiet bool) (*check.Report, error) {
	st, key, err := openAt(loc, !repair)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	opts := check.Options{ReadData: readData, Subset: subset, Repair: repair}
	if withRemote {
		if st.Config.Remote == "" {
			return nil, badInput("store %s has no remote to check", loc.store)
		}
		var b *remote.Bucket
		if b, err = openBucket(st.Dir, key, st.Config.Remote, st.Config.Remote); err != nil {
			return nil, err
		}
		defer b.Close()
		opts.Bucket = b
	}
	if readData && !quiet {
		opts.Progress = newProgress(stdout, "reading", "read")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return check.Run(ctx, st, opts)
}

func checkThroughDaemon(c *http.Client, q url.Values) (*check.Report, error) {
	resp, err := c.Post("http://sealfs/check?"+q.Encode(), "", nil)
	if err != nil {
		return nil, fmt.Errorf("ask the mounted daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		err := fmt.Errorf("%s", trimNewline(string(msg)))
		if resp.StatusCode == http.StatusBadRequest {
			return nil, usageError{err}
		}
		return nil, err
	}
	var rep check.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return nil, fmt.Errorf("read daemon answer: %w", err)
	}
	return &rep, nil
}

// serveCheck answers POST /check for the daemon, which owns the store.
func serveCheck(st *store.Store, sy *syncer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		opts := check.Options{Mounted: true}
		opts.ReadData, _ = strconv.ParseBool(q.Get("read_data"))
		opts.Repair, _ = strconv.ParseBool(q.Get("repair"))
		opts.Subset, _ = strconv.ParseFloat(q.Get("subset"), 64)
		if remoteToo, _ := strconv.ParseBool(q.Get("remote")); remoteToo {
			if sy == nil {
				http.Error(w, "this mount has no remote to check", http.StatusBadRequest)
				return
			}
			opts.Bucket = sy.bucket
		}
		rep, err := check.Run(r.Context(), st, opts)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rep)
	}
}

func printCheck(w io.Writer, rep *check.Report, withRemote bool) {
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "damaged: %s: %s\n", quoteName(p.Path), p.Problem)
	}
	for _, o := range rep.Orphans {
		verb := "ciphertext without a record"
		if rep.Removed > 0 {
			verb += " (removed)"
		}
		fmt.Fprintf(w, "%s: %s\n", verb, o)
	}
	for _, o := range rep.Shredded {
		fmt.Fprintf(w, "shredded (opens with no key): %s\n", o)
	}
	if rep.TempRemoved > 0 {
		fmt.Fprintf(w, "removed %d temporary files a crashed upload left in the bucket\n", rep.TempRemoved)
	}
	where := "store"
	if withRemote {
		where = fmt.Sprintf("store and bucket (%d objects)", rep.Objects)
	}
	fmt.Fprintf(w, "checked %s: %d files, %d records, %d read in full; %d problems, %d orphans\n",
		where, rep.Files, rep.Records, rep.ReadData, len(rep.Problems), len(rep.Orphans))
}
