package remote_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

func TestParseURL(t *testing.T) {
	good := []struct {
		url, scheme, host, prefix string
	}{
		{"gs://bucket", "gs", "bucket", ""},
		{"gs://bucket/", "gs", "bucket", ""},
		{"gs://bucket/backups/host1", "gs", "bucket", "backups/host1"},
		{"gs://bucket/backups/host1/", "gs", "bucket", "backups/host1"},
		{"GS://bucket/p", "gs", "bucket", "p"},
		{"s3://b.example/p?endpoint=http://127.0.0.1:9000&region=us-east-1", "s3", "b.example", "p"},
		{"azblob://container/p/q", "azblob", "container", "p/q"},
		{"gs://bucket/with%20space", "gs", "bucket", "with space"},
		{"file:///srv/backup", "file", "", ""},
		{"file:///srv/backup/", "file", "", ""},
		{"file://localhost/srv/backup", "file", "localhost", ""},
	}
	for _, tc := range good {
		u, prefix, err := remote.ParseURL(tc.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		if u.Scheme != tc.scheme || u.Host != tc.host || prefix != tc.prefix {
			t.Errorf("ParseURL(%q) = scheme %q host %q prefix %q, want %q %q %q",
				tc.url, u.Scheme, u.Host, prefix, tc.scheme, tc.host, tc.prefix)
		}
	}

	bad := []struct{ url, why string }{
		{"", "no scheme"},
		{"bucket/prefix", "no scheme"},
		{"ftp://bucket/p", "unknown scheme"},
		{"gs://", "no bucket"},
		{"gs:///prefix", "no bucket"},
		{"gs:bucket", "want gs://"},
		{"gs://bucket//p", "empty"},
		{"gs://bucket/p/../q", ".."},
		{"gs://bucket/./q", "empty, ."},
		{"gs://bucket:443/p", "port"},
		{"gs://user:hunter2@bucket/p", "credentials"},
		{"gs://bucket/p#frag", "fragment"},
		{"gs://bucket/%zz", "invalid URL escape"},
		{"gs://us er:hunter2@bucket/p", "invalid"},
		{"file://server/srv/backup", "only local"},
		{"file:relative/dir", "want file://"},
		{"file:///", "absolute"},
		{"file://", "absolute"},
		{"file:///srv/../etc", ".."},
		{"file:///srv/backup?x=1", "no query"},
		{"s3://b/p?endpoint=::bad", "want http://HOST"},
		{"s3://b/p?endpoint=127.0.0.1:9000", "want http://HOST"},
		{"gs://b/p?endpoint=ftp://x", "want http://HOST"},
	}
	for _, tc := range bad {
		_, _, err := remote.ParseURL(tc.url)
		if !errors.Is(err, remote.ErrBadURL) {
			t.Errorf("ParseURL(%q) = %v, want ErrBadURL", tc.url, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ParseURL(%q) = %q, want it to say %q", tc.url, err, tc.why)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q) error shows the password: %q", tc.url, err)
		}
	}
}

func TestOpenNeedsDriver(t *testing.T) {
	// The GCS driver is not linked into this test: the URL is valid, the
	// program cannot open it.
	_, err := remote.Open(context.Background(), "gs://bucket/p", remote.Options{})
	if !errors.Is(err, remote.ErrBadURL) || !strings.Contains(err.Error(), "no driver") {
		t.Fatalf("Open without a gs driver: %v", err)
	}
}

func TestOpenMissingFolder(t *testing.T) {
	_, err := remote.Open(context.Background(), "file://"+t.TempDir()+"/nope", remote.Options{})
	if !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Open of a missing folder: %v, want ErrNotFound", err)
	}
}

func TestURLRedacted(t *testing.T) {
	fb, u := newFaultBucket(t)
	b, err := remote.Open(context.Background(), u+"?sig=s3cr3t&region=eu&AccessKeyId=AKIA1", remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := b.URL()
	if strings.Contains(got, "s3cr3t") || strings.Contains(got, "AKIA1") || !strings.Contains(got, "region=eu") {
		t.Fatalf("URL() = %q: want secrets redacted, region kept", got)
	}
	fb.inject("stat", fault{err: errPermanent})
	_, err = b.Stat(context.Background(), "k")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "REDACTED") {
		t.Fatalf("Stat error %q: want the redacted URL", err)
	}
}

func TestScrubSecretsInErrors(t *testing.T) {
	err := &remote.Error{Op: "put", Key: "data/x", URL: "azblob://c/p", Err: errors.New(
		`Put "https://acct.blob.core.windows.net/c/p/data/x?se=2030&sig=AbC%2Fsecret123&sp=rw": connection reset`)}
	msg := err.Error()
	if strings.Contains(msg, "AbC%2Fsecret123") || !strings.Contains(msg, "sig=REDACTED") {
		t.Errorf("SAS signature not scrubbed: %s", msg)
	}
	if !strings.Contains(msg, "se=2030") || !strings.Contains(msg, "connection reset") {
		t.Errorf("scrubbing removed more than the secret: %s", msg)
	}
}
