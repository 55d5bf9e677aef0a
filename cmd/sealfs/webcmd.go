package main

import (
	"fmt"
	"path/filepath"

	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
)

// defaultWebAddr is where `sealfs web` listens without ADDR.
const defaultWebAddr = "127.0.0.1:8080"

// webCommand asks the mounted daemon to serve the backups page and
// /metrics on ADDR, as `mount --web` does, and prints the URL with the
// token. The listener is the daemon's: it lives until the unmount.
func webCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "web [flags] [ADDR]",
		Short: "serve the backups page and /metrics of the mounted store",
		Long: "Start the backups page and /metrics on the mounted daemon, on ADDR (default " + defaultWebAddr + "), as mount --web does,\n" +
			"and print the URL with the token. The listener lives until the unmount.",
	}
	var loc location
	loc.register(cmd.Flags())
	var o webOptions
	cmd.Flags().StringVar(&o.tlsCert, "web-tls-cert", "", "TLS certificate (needed on an address that is not loopback)")
	cmd.Flags().StringVar(&o.tlsKey, "web-tls-key", "", "TLS key")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch len(args) {
		case 0:
			o.addr = defaultWebAddr
		case 1:
			o.addr = args[0]
		default:
			return wrongArgs(cmd)
		}
		if err := o.validate(); err != nil {
			return err
		}
		// The daemon reads the TLS files; its working directory is not ours.
		for _, p := range []*string{&o.tlsCert, &o.tlsKey} {
			if *p != "" {
				*p = mustAbs(*p)
			}
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		if !store.Exists(loc.store) {
			return badInput("store %s does not exist", loc.store)
		}
		c := daemonClient(loc.store)
		if c == nil {
			return badInput("store %s is not mounted: the page is served by the mounted daemon (sealfs mount --web %s MOUNTPOINT)", filepath.Clean(loc.store), o.addr)
		}
		var reply webReply
		if err := daemonPostJSON(c, "/web", webRequest{Addr: o.addr, TLSCert: o.tlsCert, TLSKey: o.tlsKey}, &reply); err != nil {
			return err
		}
		if !reply.Started {
			fmt.Fprintf(cmd.ErrOrStderr(), "sealfs: the daemon was serving %s already\n", o.addr)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "sealfs: web page and metrics at %s (until the unmount)\n", reply.URL)
		return nil
	}
	return cmd
}
