package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/sealfs/sealfs/store"
)

// defaultWebAddr is where `sealfs web` listens without ADDR.
const defaultWebAddr = "127.0.0.1:8080"

// runWeb asks the mounted daemon to serve the backups page and /metrics
// on ADDR, as `mount --web` does, and prints the URL with the token. The
// listener is the daemon's: it lives until the unmount.
func runWeb(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("web", "[--store DIR] [--web-tls-cert F --web-tls-key F] [ADDR (default "+defaultWebAddr+")]", stdout)
	var loc location
	loc.register(fl)
	var o webOptions
	fl.StringVar(&o.tlsCert, "web-tls-cert", "", "TLS certificate (needed on an address that is not loopback)")
	fl.StringVar(&o.tlsKey, "web-tls-key", "", "TLS key")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	switch fl.NArg() {
	case 0:
		o.addr = defaultWebAddr
	case 1:
		o.addr = fl.Arg(0)
	default:
		return badInput("want at most one ADDR, got %d arguments", fl.NArg())
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
		fmt.Fprintf(stderr, "sealfs: the daemon was serving %s already\n", o.addr)
	}
	fmt.Fprintf(stdout, "sealfs: web page and metrics at %s (until the unmount)\n", reply.URL)
	return nil
}
