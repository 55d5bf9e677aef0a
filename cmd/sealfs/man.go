package main

import (
	"os"
	"regexp"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// manDate is the date in the man pages' header. It is fixed so that the
// pages are the same on every run (docs/man is checked against them);
// move it when the commands change enough to matter.
var manDate = time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC)

// manCommand writes the man pages of the whole command tree: sealfs.1 and
// one sealfs-CMD.1 per command (docs/man holds them). Hidden: it is for
// packagers and for docs/man, not for daily use.
func manCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "write the man pages into DIR",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return badInput("want exactly one DIR, got %d arguments", len(args))
			}
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			keepTagsLiteral(cmd.Root())
			date := manDate
			header := &doc.GenManHeader{Section: "1", Date: &date, Source: "sealfs " + version, Manual: "sealfs manual"}
			return doc.GenManTree(cmd.Root(), header, args[0])
		},
	}
}

// tagLike is what markdown takes for an HTML tag: <UTC time>.
var tagLike = regexp.MustCompile(`<([A-Za-z])`)

// keepTagsLiteral escapes what looks like an HTML tag in the texts of c
// and its subcommands: cobra writes the man pages as markdown, which would
// drop NAME-<UTC time>.tar.gz to NAME-.tar.gz.
func keepTagsLiteral(c *cobra.Command) {
	escape := func(s string) string { return tagLike.ReplaceAllString(s, `\<$1`) }
	c.Short, c.Long = escape(c.Short), escape(c.Long)
	c.Flags().VisitAll(func(f *pflag.Flag) { f.Usage = escape(f.Usage) })
	for _, sub := range c.Commands() {
		keepTagsLiteral(sub)
	}
}
