package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/store"
)

// A mounted store is rotated by its daemon, which holds the store and the
// old key: the command sends the new key sealed under the old one (so no
// key crosses the socket in the clear, and only a holder of the old key
// can start a rotation), replaces its key file once the daemon has
// recorded the rotation, then asks it to run and shows its progress.

// rotateRequest is the body of POST /rotate/begin.
type rotateRequest struct {
	From string `json:"from"` // key IDs
	To   string `json:"to"`
	Next string `json:"next"` // hex: To sealed under From (crypto.SealKey)
}

// rotateLine is one line of POST /rotate/run's answer: progress, then a
// last line with the report or the error.
type rotateLine struct {
	Done   int                 `json:"done,omitempty"`
	Total  int                 `json:"total,omitempty"`
	Report *store.RotateReport `json:"report,omitempty"`
	Bucket string              `json:"bucket,omitempty"` // the bucket step's error
	Error  string              `json:"error,omitempty"`
}

func rotateHandlers(mux *http.ServeMux, st *store.Store, key *crypto.MasterKey, sy *syncer) {
	var mu sync.Mutex
	var next *crypto.MasterKey // begun, not run yet
	mux.HandleFunc("POST /rotate/begin", func(w http.ResponseWriter, r *http.Request) {
		if !mu.TryLock() {
			http.Error(w, "a key rotation is running", http.StatusConflict)
			return
		}
		defer mu.Unlock()
		var req rotateRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		k, err := openRotateRequest(key, req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := st.BeginRotation(key, k); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		next = k
	})
	mux.HandleFunc("POST /rotate/run", func(w http.ResponseWriter, r *http.Request) {
		if !mu.TryLock() {
			http.Error(w, "a key rotation is running", http.StatusConflict)
			return
		}
		defer mu.Unlock()
		if next == nil {
			http.Error(w, "no key rotation begun", http.StatusConflict)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		flusher, _ := w.(http.Flusher)
		send := func(l rotateLine) {
			// The client may be gone; the rotation goes on regardless.
			if enc.Encode(l) == nil && flusher != nil {
				flusher.Flush()
			}
		}
		rep, err := st.RotateOpen(key, next, func(done, total int) { send(rotateLine{Done: done, Total: total}) })
		if err != nil {
			send(rotateLine{Error: err.Error()})
			return
		}
		last := rotateLine{Report: &rep}
		if sy != nil {
			sy.snapshots.SetKey(next)
			ctx, cancel := context.WithTimeout(context.Background(), rotateBucketTimeout)
			err := sy.up.Snapshot(ctx)
			cancel()
			if err == nil {
				err = clearSnapshotsStale(st.Meta)
			}
			if err != nil {
				last.Bucket = err.Error()
			}
		}
		next = nil
		send(last)
	})
}

// openRotateRequest returns the new key of req, which must be sealed
// under key.
func openRotateRequest(key *crypto.MasterKey, req rotateRequest) (*crypto.MasterKey, error) {
	if req.From != key.ID().String() {
		return nil, fmt.Errorf("%w: the store is mounted under key %s, not %s", store.ErrWrongKey, key.ID(), req.From)
	}
	sealed, err := hex.DecodeString(req.Next)
	to, terr := hex.DecodeString(req.To)
	if err != nil || terr != nil || len(to) != len(crypto.KeyID{}) {
		return nil, errors.New("bad rotation request")
	}
	return key.OpenKey(sealed, crypto.KeyID(to))
}

// rotateMounted runs a rotation through the daemon c; replaceKey writes
// the new key file, after the daemon has recorded the rotation.
func rotateMounted(c *http.Client, old, next *crypto.MasterKey, replaceKey func() error, bar progress) (store.RotateReport, string, error) {
	body, err := json.Marshal(rotateRequest{From: old.ID().String(), To: next.ID().String(), Next: hex.EncodeToString(old.SealKey(next))})
	if err != nil {
		return store.RotateReport{}, "", err
	}
	resp, err := c.Post("http://sealfs/rotate/begin", "application/json", bytes.NewReader(body))
	if err != nil {
		return store.RotateReport{}, "", fmt.Errorf("ask the mounted daemon: %w", err)
	}
	if err := daemonReply(resp, nil); err != nil {
		return store.RotateReport{}, "", err
	}
	if err := replaceKey(); err != nil {
		return store.RotateReport{}, "", err
	}
	resp, err = c.Post("http://sealfs/rotate/run", "application/json", nil)
	if err != nil {
		return store.RotateReport{}, "", fmt.Errorf("ask the mounted daemon: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return store.RotateReport{}, "", daemonReply(resp, nil)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	started, done := false, 0
	for sc.Scan() {
		var l rotateLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return store.RotateReport{}, "", fmt.Errorf("the daemon's answer: %w", err)
		}
		switch {
		case l.Error != "":
			return store.RotateReport{}, "", errors.New(l.Error)
		case l.Report != nil:
			if started {
				bar.Done()
			}
			return *l.Report, l.Bucket, nil
		}
		if !started {
			bar.Start(l.Total, 0)
			started = true
		}
		bar.Add(l.Done-done, 0)
		done = l.Done
	}
	if err := sc.Err(); err != nil {
		return store.RotateReport{}, "", fmt.Errorf("the daemon's answer: %w", err)
	}
	return store.RotateReport{}, "", errors.New("the daemon ended the rotation without a report (did it exit? the next key rotate finishes it)")
}
