package remote

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sealfs/sealfs/remote/driver"
)

// ErrBadURL is wrapped by every error about a remote URL that cannot work:
// unparsable, unknown scheme, no bucket name, a malformed prefix.
var ErrBadURL = errors.New("bad remote URL")

// builtinSchemes are the schemes sealfs ships drivers for. ParseURL accepts
// them even when the driver is not linked into the program, so the CLI can
// validate a URL; Open then needs the driver.
var builtinSchemes = map[string]bool{"gs": true, "s3": true, "azblob": true, "file": true}

// ParseURL checks a remote URL and splits it into the URL the driver sees
// and the key prefix: gs://BUCKET/PREFIX, s3://BUCKET/PREFIX?endpoint=..&region=..,
// azblob://CONTAINER/PREFIX, file:///ABS/PATH (the path is the folder, the
// prefix is empty). The prefix has no leading or trailing slash.
func ParseURL(rawURL string) (u *url.URL, prefix string, err error) {
	u, err = url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the whole URL, secrets and all: keep only
		// the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, "", fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: %s", ErrBadURL, redact(u), fmt.Sprintf(format, args...))
	}
	_, registered := driver.Lookup(u.Scheme)
	switch {
	case u.Scheme == "":
		return nil, "", bad("no scheme (want gs://, s3://, azblob:// or file://)")
	case !builtinSchemes[u.Scheme] && !registered:
		return nil, "", bad("unknown scheme %q (want gs, s3, azblob or file)", u.Scheme)
	case u.Opaque != "":
		return nil, "", bad("want %s://BUCKET/PREFIX", u.Scheme)
	case u.User != nil:
		return nil, "", bad("credentials in the URL; give them with --credentials-file")
	case u.Fragment != "":
		return nil, "", bad("unexpected #fragment")
	}
	if u.Scheme == "file" {
		return parseFileURL(u, bad)
	}
	if u.Host == "" {
		return nil, "", bad("no bucket name")
	}
	if u.Port() != "" {
		return nil, "", bad("bucket name %q has a port; give a custom server as ?endpoint=", u.Host)
	}
	prefix = strings.TrimSuffix(strings.TrimPrefix(u.Path, "/"), "/")
	if err := checkPath(prefix); err != nil {
		return nil, "", bad("prefix: %v", err)
	}
	if ep := u.Query().Get("endpoint"); ep != "" {
		// A malformed server address fails here, in one line, not later
		// in the SDK's own words.
		e, err := url.Parse(ep)
		if err != nil || e.Scheme != "http" && e.Scheme != "https" || e.Host == "" {
			return nil, "", bad("endpoint %q: want http://HOST[:PORT] or https://HOST[:PORT]", ep)
		}
	}
	return u, prefix, nil
}

// parseFileURL checks file:///ABS/PATH. The folder is the whole path, so
// there is no prefix.
func parseFileURL(u *url.URL, bad func(string, ...any) error) (*url.URL, string, error) {
	switch {
	case u.Host != "" && u.Host != "localhost":
		return nil, "", bad("host %q: only local folders (file:///PATH)", u.Host)
	case !strings.HasPrefix(u.Path, "/") || u.Path == "/":
		return nil, "", bad("want an absolute folder path other than /, as file:///PATH")
	case u.RawQuery != "":
		return nil, "", bad("file URLs take no query")
	}
	if err := checkPath(strings.TrimSuffix(u.Path[1:], "/")); err != nil {
		return nil, "", bad("path: %v", err)
	}
	return u, "", nil
}

// checkPath accepts "" or slash-separated non-empty segments other than
// "." and "..": a key prefix or key that means the same thing everywhere.
func checkPath(p string) error {
	if p == "" {
		return nil
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%q has an empty, . or .. segment", p)
		}
	}
	return nil
}

// redact returns u as a string without user info and with the values of
// query parameters that may hold secrets (SAS signatures, keys, tokens)
// replaced, so it can go into errors and logs.
func redact(u *url.URL) string {
	r := *u
	r.User = nil
	if r.RawQuery != "" {
		q := r.Query()
		for name := range q {
			if isSecretParam(name) {
				q[name] = []string{"REDACTED"}
			}
		}
		r.RawQuery = q.Encode()
	}
	return r.String()
}

func isSecretParam(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"sig", "secret", "key", "token", "password", "credential", "auth"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}
