package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/sealfs/sealfs/store"
)

func runLs(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("ls", "[--store DIR] [--key-file FILE] [--json] [-r] [PATH]", stdout)
	var loc location
	loc.register(fl)
	asJSON := fl.Bool("json", false, "print JSON instead of a table")
	recursive := fl.Bool("r", false, "list subdirectories recursively")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	if fl.NArg() > 1 {
		return badInput("want at most one PATH, got %d", fl.NArg())
	}
	p := "/"
	if fl.NArg() == 1 {
		p = fl.Arg(0)
	}
	if err := loc.resolve(); err != nil {
		return err
	}
	rows, err := fetchListing(loc, p, *recursive)
	if err != nil {
		return err
	}
	if *asJSON {
		if rows == nil {
			rows = []listEntry{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return printTable(stdout, rows, *recursive)
}

// fetchListing asks the daemon when the store is mounted, else opens it.
func fetchListing(loc location, p string, recursive bool) ([]listEntry, error) {
	if !store.Exists(loc.store) {
		return nil, badInput("store %s does not exist", loc.store)
	}
	if c := daemonClient(loc.store); c != nil {
		return listFromDaemon(c, p, recursive)
	}
	st, _, err := openAt(loc, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rows, err := listPath(st.Meta, p, recursive, st.Config.Remote != "")
	if err != nil {
		return nil, usageError{err}
	}
	return rows, nil
}

func listFromDaemon(c *http.Client, p string, recursive bool) ([]listEntry, error) {
	q := url.Values{"path": {p}}
	if recursive {
		q.Set("recursive", "1")
	}
	resp, err := c.Get("http://sealfs/ls?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("ask the mounted daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, usageError{fmt.Errorf("%s", trimNewline(string(msg)))}
	}
	var rows []listEntry
	if err := json.NewDecoder(resp.Body).Decode(&rows); err != nil {
		return nil, fmt.Errorf("read daemon answer: %w", err)
	}
	return rows, nil
}

func printTable(w io.Writer, rows []listEntry, recursive bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tENCRYPTED\tSYNC\tMODIFIED")
	for _, r := range rows {
		name, size, enc, sync := quoteName(r.Name), strconv.FormatUint(r.Size, 10), "-", r.Sync
		if sync == "" {
			sync = "-"
		}
		if recursive {
			name = quoteName(r.Path)
		}
		switch r.Type {
		case "dir":
			name, size = name+"/", "-"
		case "file":
			enc = strconv.FormatBool(r.Encrypted)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, size, enc, sync, r.Modified.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
