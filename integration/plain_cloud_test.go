package integration

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sealfs/sealfs/remote/gcs/gcstest"
	"github.com/sealfs/sealfs/remote/s3/s3test"
	"google.golang.org/api/option"
)

// TestPlainCopyThroughTheSDKs: in GCS and S3 (their emulators), a backup
// under a plain directory is an object at plain/<path> that the provider's
// own SDK fetches as the very .tar.gz the mount shows, and tar lists it;
// the encrypted backup beside it has no such object.
func TestPlainCopyThroughTheSDKs(t *testing.T) {
	src := filepath.Join(t.TempDir(), "app")
	generateSourceTree(t, src)
	for _, backend := range []struct {
		name  string
		start func(t *testing.T) string
		fetch func(t *testing.T, bucketURL, key string) ([]byte, error)
	}{
		{"gcs", func(t *testing.T) string { u, _, _ := gcstest.Start(t); return u }, fetchGCS},
		{"s3", func(t *testing.T) string { return s3test.Start(t) }, fetchS3},
	} {
		t.Run(backend.name, func(t *testing.T) {
			bucketURL := backend.start(t)
			store, key := remoteStore(t, bucketURL)
			m := mountSealfs(t, withStore(store, key), withMountArgs("--seal-after", "0s"))
			mustMkdir(t, filepath.Join(m.Dir, "plain"), 0o755)
			runSealfsOK(t, "encryption", "--store", store, "--key-file", key, "off", "/plain")
			plain := runBackupKind(t, store, key, "not encrypted", "--to", "/plain", src)
			enc := runBackupKind(t, store, key, "encrypted", src)
			syncWait(t, store, key)
			want, err := os.ReadFile(filepath.Join(m.Dir, plain))
			if err != nil {
				t.Fatal(err)
			}
			got, err := backend.fetch(t, bucketURL, "plain"+plain)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s SDK fetch of plain%s: %d bytes, %v; want the mount's %d", backend.name, plain, len(got), err, len(want))
			}
			tgz := filepath.Join(t.TempDir(), "fetched.tar.gz")
			mustWriteFile(t, tgz, got, 0o600)
			if listing := runToolOK(t, "tar", "tzf", tgz); !strings.Contains(listing, "app/build.sh") {
				t.Errorf("tar tzf of the fetched copy:\n%s", tail(listing, 10))
			}
			if _, err := backend.fetch(t, bucketURL, "plain"+enc); err == nil {
				t.Errorf("the encrypted backup %s has a readable copy", enc)
			}
		})
	}
}

// bucketParts splits a gs:// or s3:// test URL into bucket, prefix and
// endpoint.
func bucketParts(t *testing.T, raw string) (bucket, prefix, endpoint string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	return u.Host, prefix, u.Query().Get("endpoint")
}

func fetchGCS(t *testing.T, bucketURL, key string) ([]byte, error) {
	bucket, prefix, endpoint := bucketParts(t, bucketURL)
	ctx := context.Background()
	c, err := storage.NewClient(ctx, option.WithEndpoint(strings.TrimSuffix(endpoint, "/")+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Bucket(bucket).Object(prefix + key).NewReader(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func fetchS3(t *testing.T, bucketURL, key string) ([]byte, error) {
	bucket, prefix, endpoint := bucketParts(t, bucketURL)
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(s3test.Region))
	if err != nil {
		t.Fatal(err)
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}
