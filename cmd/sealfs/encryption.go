package main

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"syscall"

	sealfs "github.com/sealfs/sealfs/fs"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
)

func encryptionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "encryption [flags] [on|off] DIR",
		Short: "show or switch a directory's encryption: encryption [on|off] DIR",
		Long: `Show, or switch on or off, the encryption of the directory DIR (also the xattr
user.sealfs.encrypt). Files and directories made in it from then on follow it; the ones
already in it keep what they were written with until written anew.`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
		var req encryptionRequest
		switch len(args) {
		case 1:
			req.Path = args[0]
		case 2:
			on, err := sealfs.ParseToggle(args[0])
			if err != nil {
				return badInput("usage: %s (%v)", cmd.UseLine(), err)
			}
			req.Path, req.Set, req.On = args[1], true, on
		default:
			return wrongArgs(cmd)
		}
		req.Path = path.Clean("/" + req.Path)
		if err := loc.resolve(); err != nil {
			return err
		}
		var res encryptionResult
		err := daemonOrStore(loc, stderr, false, func(c *http.Client) error {
			return daemonJSON(c, http.MethodPost, "/encryption?"+req.query().Encode(), &res)
		}, func(st *store.Store, _ *remote.Bucket) (err error) {
			res, err = encryption(st.Meta, req)
			return err
		})
		if err != nil {
			return err
		}
		state := "on"
		if !res.On {
			state = "off"
		}
		switch {
		case !req.Set:
			fmt.Fprintf(stdout, "%s: encryption %s\n", quoteName(req.Path), state)
		case res.Existing > 0:
			fmt.Fprintf(stdout, "%s: encryption %s for files and directories made in it from now on; the %d already in it keep what they were written with until written anew (rsync and tar write anew; an in-place overwrite does not)\n",
				quoteName(req.Path), state, res.Existing)
		default:
			fmt.Fprintf(stdout, "%s: encryption %s for files and directories made in it\n", quoteName(req.Path), state)
		}
		return nil
	}
	return cmd
}

// encryptionRequest shows (Set false) or sets a directory's toggle.
type encryptionRequest struct {
	Path    string
	Set, On bool
}

func (r encryptionRequest) query() url.Values {
	q := url.Values{"path": {r.Path}}
	if r.Set {
		q.Set("on", strconv.FormatBool(r.On))
	}
	return q
}

// encryptionResult is a directory's toggle after the request, and how
// many entries it already holds (which keep their own kind).
type encryptionResult struct {
	On       bool `json:"on"`
	Existing int  `json:"existing"`
}

// encryption shows or sets the toggle of the directory req names.
func encryption(m *meta.Store, req encryptionRequest) (encryptionResult, error) {
	var res encryptionResult
	err := m.Update(func(tx *meta.Tx) error {
		res = encryptionResult{}
		ino, err := resolvePath(tx, req.Path)
		if err != nil {
			return usageError{err}
		}
		in, err := tx.Inode(ino)
		if err != nil {
			return err
		}
		if in.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			return badInput("%s is not a directory (a file keeps the kind it was written with: sealfs ls shows it)", quoteName(req.Path))
		}
		res.On = !in.Plain
		if !req.Set {
			return nil
		}
		if err := sealfs.SetEncryption(tx, ino, req.On); err != nil {
			return err
		}
		res.On = req.On
		return tx.Entries(ino, func(meta.Entry) bool { res.Existing++; return true })
	})
	return res, err
}

// serveEncryption answers POST /encryption for the daemon.
func serveEncryption(st *store.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		req := encryptionRequest{Path: q.Get("path")}
		if v := q.Get("on"); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				replyJSON(w, nil, badInput("on=%q", v))
				return
			}
			req.Set, req.On = true, on
		}
		res, err := encryption(st.Meta, req)
		replyJSON(w, res, err)
	}
}
