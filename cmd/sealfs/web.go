package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

// webOptions are the mount flags of the web listener.
type webOptions struct {
	addr, tlsCert, tlsKey string
}

func (o *webOptions) register(fl *pflag.FlagSet) {
	fl.StringVar(&o.addr, "web", "", "serve /metrics (and the backups page) on this address, e.g. 127.0.0.1:8080; every request needs the token the daemon prints")
	fl.StringVar(&o.tlsCert, "web-tls-cert", "", "TLS certificate for --web (needed on an address that is not loopback)")
	fl.StringVar(&o.tlsKey, "web-tls-key", "", "TLS key for --web")
}

func (o webOptions) validate() error {
	if o.addr == "" {
		if o.tlsCert != "" || o.tlsKey != "" {
			return badInput("--web-tls-cert and --web-tls-key go with --web")
		}
		return nil
	}
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return badInput("--web %q: %v", o.addr, err)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return badInput("give both --web-tls-cert and --web-tls-key, or neither")
	}
	if !isLoopback(host) && o.tlsCert == "" {
		return badInput("--web %s is not a loopback address: give --web-tls-cert and --web-tls-key, or listen on 127.0.0.1", o.addr)
	}
	return nil
}

// isLoopback reports whether host names only this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tokenFile holds the web token, in the store, 0600.
func tokenFile(storeDir string) string { return filepath.Join(storeDir, "web.token") }

// webToken reads the store's web token, making one at first use. A token
// file readable by others is refused, as a key file is.
func webToken(storeDir string) (string, error) {
	p := tokenFile(storeDir)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", err
		}
		tok := hex.EncodeToString(raw[:])
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return "", fmt.Errorf("web token: %w", err)
		}
		if _, err := f.WriteString(tok + "\n"); err != nil {
			f.Close()
			return "", fmt.Errorf("web token: %w", err)
		}
		return tok, f.Close()
	}
	if err != nil {
		return "", fmt.Errorf("web token: %w", err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 || !fi.Mode().IsRegular() {
		return "", badInput("web token %s is readable by others (mode %v): chmod 600 it", p, fi.Mode().Perm())
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", badInput("web token %s is too short: remove it and a new one is made", p)
	}
	return tok, nil
}

// signedIn is the page the printed URL answers with: it moves on at once
// to the page asked for, now with the cookie.
var signedIn = template.Must(template.New("").Parse(`<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={{.}}"><title>sealfs</title><p><a href="{{.}}">Continue</a></p>
`))

// tokenCookie carries the token after the first request that gave it.
const tokenCookie = "sealfs_token"

// webServer is the running web listener.
type webServer struct {
	srv *http.Server
	url string // with the token, as printed
}

// startWeb listens on o.addr and serves what routes puts in its mux,
// behind the token.
func startWeb(o webOptions, storeDir string, routes func(mux *http.ServeMux, tok string), log *slog.Logger) (*webServer, error) {
	tok, err := webToken(storeDir)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, usageError{fmt.Errorf("--web %s: %w", o.addr, err)}
	}
	mux := http.NewServeMux()
	routes(mux, tok)
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	h := requireToken(tok, scheme == "https", http.NewCrossOriginProtection().Handler(mux))
	w := &webServer{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		url: fmt.Sprintf("%s://%s/?token=%s", scheme, ln.Addr(), tok),
	}
	go func() {
		var err error
		if o.tlsCert != "" {
			err = w.srv.ServeTLS(ln, o.tlsCert, o.tlsKey)
		} else {
			err = w.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("web listener", "err", err)
		}
	}()
	return w, nil
}

func (w *webServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return w.srv.Shutdown(ctx)
}

// requireToken lets through only requests that carry the token: as
// "Authorization: Bearer TOKEN" (scripts, Prometheus), in the cookie, or
// once as ?token= (the printed URL), which sets the cookie (HttpOnly,
// SameSite=Strict) and sends the browser on to the same URL without it.
// Anything else gets 401 and nothing more.
//
// The hop is a page that refreshes itself to the clean URL, not a
// redirect: a browser that opened the URL from another site (a chat, a
// mail) does not send a Strict cookie along a redirect of that
// navigation, but does on a navigation the page itself starts.
func requireToken(tok string, secure bool, next http.Handler) http.Handler {
	same := func(s string) bool { return subtle.ConstantTimeCompare([]byte(s), []byte(tok)) == 1 }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && same(bearer) {
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(tokenCookie); err == nil && same(c.Value) {
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query(); r.Method == http.MethodGet && same(q.Get("token")) {
			http.SetCookie(w, &http.Cookie{
				Name: tokenCookie, Value: tok, Path: "/", HttpOnly: true, Secure: secure,
				SameSite: http.SameSiteStrictMode,
			})
			q.Del("token")
			u := (&url.URL{Path: r.URL.Path, RawQuery: q.Encode()}).String()
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Referrer-Policy", "no-referrer") // the token is in this URL
			w.Header().Set("Refresh", "0; url="+u)
			signedIn.Execute(w, u)
			return
		}
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	})
}

// webHost runs a mount's web listeners: the one --web asks for at mount,
// and those `sealfs web` starts later through the control socket.
type webHost struct {
	app *webApp
	log *slog.Logger

	mu      sync.Mutex
	servers map[string]*webServer // by the address asked for
	closed  bool
}

func newWebHost(app *webApp, log *slog.Logger) *webHost {
	return &webHost{app: app, log: log, servers: map[string]*webServer{}}
}

// start listens on o.addr, or returns the listener already there.
func (h *webHost) start(o webOptions) (w *webServer, started bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false, errors.New("the mount is ending")
	}
	if w := h.servers[o.addr]; w != nil {
		return w, false, nil
	}
	w, err = startWeb(o, h.app.st.Dir, h.app.routes, h.log)
	if err != nil {
		return nil, false, err
	}
	h.servers[o.addr] = w
	h.log.Info("web listener", "url", w.url)
	return w, true, nil
}

// Close closes every listener.
func (h *webHost) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for addr, w := range h.servers {
		if err := w.Close(); err != nil {
			h.log.Warn("web listener close", "addr", addr, "err", err)
		}
	}
	h.servers = nil
}

// serveWebStart answers POST /web for `sealfs web`: it starts a listener
// with the options in the JSON body and returns its URL.
func serveWebStart(h *webHost) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req webRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			replyJSON(w, nil, badInput("web: %v", err))
			return
		}
		o := webOptions{addr: req.Addr, tlsCert: req.TLSCert, tlsKey: req.TLSKey}
		if err := o.validate(); err != nil {
			replyJSON(w, nil, err)
			return
		}
		srv, started, err := h.start(o)
		if err != nil {
			replyJSON(w, nil, err)
			return
		}
		replyJSON(w, webReply{URL: srv.url, Started: started}, nil)
	}
}

// webRequest and webReply are POST /web's body and answer.
type webRequest struct {
	Addr    string `json:"addr"`
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`
}

type webReply struct {
	URL     string `json:"url"`
	Started bool   `json:"started"` // false: it was listening already
}
