package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
)

func lsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ls [flags] [PATH]",
		Short: "list files with size, encryption, sync state and modification time",
		Long: `List NAME TYPE SIZE ENCRYPTED SYNC MODIFIED of the files under PATH (default /): a path
inside the filesystem, or a host path under its mountpoint. While the store is mounted ls
asks the daemon; else it opens the store read-only.`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	asJSON := fl.Bool("json", false, "print JSON instead of a table")
	recursive := fl.BoolP("recursive", "r", false, "list subdirectories recursively (paths relative to PATH)")
	// -h is ls -h, as in ls(1); help is --help alone. Cobra would give its
	// help flag -h too (and panic on the clash), so ls defines it itself.
	human := fl.BoolP("human-readable", "h", false, "sizes in K, M, G (powers of 1024)")
	fl.Bool("help", false, "help for ls")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 1 {
			return badInput("want at most one PATH, got %d", len(args))
		}
		p := "/"
		if len(args) == 1 {
			p = args[0]
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		p = inFilesystem(loc.store, p)
		rows, err := fetchListing(loc, p, *recursive)
		if err != nil {
			return err
		}
		if *asJSON {
			if rows == nil {
				rows = []listEntry{}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(rows)
		}
		return printTable(cmd.OutOrStdout(), rows, p, *recursive, *human)
	}
	return cmd
}

// inFilesystem turns a path that, taken on the host, lies under the
// store's mountpoint (sealfs ls ~/backup/app, or ls app from inside the
// mount) into the path inside the filesystem (/app); any other path is
// one inside the filesystem already.
func inFilesystem(storeDir, p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	c := daemonClient(storeDir)
	if c == nil {
		return p
	}
	var r statusReport
	if daemonJSON(c, http.MethodGet, "/status", &r) != nil || r.Mountpoint == "" {
		return p
	}
	if abs == r.Mountpoint {
		return "/"
	}
	if rel, ok := strings.CutPrefix(abs, r.Mountpoint+string(filepath.Separator)); ok {
		return "/" + filepath.ToSlash(rel)
	}
	return p
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

// syncWidth bounds the SYNC column; --json has the whole text.
const syncWidth = 40

func printTable(w io.Writer, rows []listEntry, dir string, recursive, human bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSIZE\tENCRYPTED\tSYNC\tMODIFIED")
	for _, r := range rows {
		name, size, enc, sync := quoteName(r.Name), strconv.FormatUint(r.Size, 10), "-", r.Sync
		if human {
			size = humanSize(r.Size)
		}
		if sync == "" {
			sync = "-"
		}
		if len([]rune(sync)) > syncWidth {
			sync = string([]rune(sync)[:syncWidth-1]) + "…"
		}
		if recursive {
			rel, err := filepath.Rel(path.Clean("/"+dir), r.Path)
			if err != nil || rel == "." {
				rel = r.Path
			}
			name = quoteName(rel)
		}
		switch r.Type {
		case "dir":
			name, size = name+"/", "-"
		case "file":
			enc = strconv.FormatBool(r.Encrypted)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, r.Type, size, enc, sync, r.Modified.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

// humanSize is n in the largest power-of-1024 unit that keeps it >= 1, as
// ls -h writes it (1023, 1.5K, 12M).
func humanSize(n uint64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatUint(n, 10)
	}
	v, u := float64(n)/1024, 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f%c", v, units[u])
	}
	return fmt.Sprintf("%.0f%c", v, units[u])
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
