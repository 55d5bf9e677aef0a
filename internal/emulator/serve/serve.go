// Package serve is the shared main loop of the bucket emulators under
// internal/emulator: it serves an emulator's handler on a 127.0.0.1 port and
// takes orders from the test that started it on a second port.
//
// The emulators run as their own processes, built without the race
// detector, so that a test binary built with -race does not slow the
// server side of every upload ten-fold.
//
// Start-up: the program binds both ports itself (no free-port race) and
// prints one line to stdout, "data=127.0.0.1:P control=127.0.0.1:Q".
// Control requests (all POST):
//
//	/stop            close the data port and drop every connection, uploads
//	                 in flight included: clients see connection refused, as
//	                 in an outage; the emulator's objects stay in memory
//	/restart         listen on the same data port again
//	/bucket?name=B   create an empty bucket
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Emulator is what a program provides once it knows its data address.
type Emulator struct {
	Handler      http.Handler
	CreateBucket func(name string) error
}

// Main binds the ports, calls setup with the data address (GCS's fake must
// know the host its clients dial) and serves until SIGTERM or SIGINT. It
// exits the process on an error.
func Main(name string, setup func(dataAddr string) (*Emulator, error)) {
	if err := run(setup); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

func run(setup func(dataAddr string) (*Emulator, error)) error {
	data, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	emu, err := setup(data.Addr().String())
	if err != nil {
		return err
	}
	d := &dataPort{addr: data.Addr().String(), handler: emu.Handler}
	d.serve(data)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, r *http.Request) { d.stop() })
	mux.HandleFunc("POST /restart", func(w http.ResponseWriter, r *http.Request) {
		if err := d.restart(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /bucket", func(w http.ResponseWriter, r *http.Request) {
		if err := emu.CreateBucket(r.URL.Query().Get("name")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	cs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go cs.Serve(ctl) //nolint:errcheck // returns once Shutdown runs
	fmt.Printf("data=%s control=%s\n", d.addr, ctl.Addr())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	d.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cs.Shutdown(ctx)
}

// dataPort is the emulator's service port, which can go down and come back
// on the same address.
type dataPort struct {
	addr    string
	handler http.Handler

	mu sync.Mutex
	hs *http.Server // nil while stopped
}

// serve starts serving on l.
func (d *dataPort) serve(l net.Listener) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hs = &http.Server{Handler: d.handler, ReadHeaderTimeout: 10 * time.Second}
	go d.hs.Serve(l) //nolint:errcheck // returns http.ErrServerClosed at stop
}

// stop closes the listener and every connection; stopping twice is a no-op.
func (d *dataPort) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.hs != nil {
		d.hs.Close()
		d.hs = nil
	}
}

// restart listens on the same address again; a running port is left alone.
func (d *dataPort) restart() error {
	d.mu.Lock()
	running := d.hs != nil
	d.mu.Unlock()
	if running {
		return nil
	}
	// The port may linger for a moment after stop.
	var l net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		l, err = net.Listen("tcp", d.addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("listen again on %s: %w", d.addr, err)
	}
	d.serve(l)
	return nil
}
