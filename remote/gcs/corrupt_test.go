package gcs_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/sealfs/sealfs/remote/driver"
	"github.com/sealfs/sealfs/remote/drivertest"
	"github.com/sealfs/sealfs/remote/gcs/gcstest"
)

var (
	marker  = []byte("SEALFS-CORRUPT-ME")
	damaged = []byte("SEALFS-CORRUPT-MF") // same length: Content-Length holds
)

// corruptingProxy forwards to target and damages every request body that
// contains marker, after the driver has checksummed the bytes: what a bad
// network path or a bad buffer would do.
func corruptingProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		// Keep the proxy's address so upload session URLs point back here.
		pr.Out.Host = pr.In.Host
	}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body = bytes.ReplaceAll(body, marker, damaged)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	})}
	go hs.Serve(l) //nolint:errcheck
	t.Cleanup(func() { hs.Close() })
	return "http://" + l.Addr().String()
}

// TestCorruptedUpload: bytes damaged after the driver checked them never
// become an object. GCS (and fake-gcs-server, for single-request uploads)
// rejects them by the CRC32C and MD5 the driver sends; fake-gcs-server does
// not check chunked uploads, so there the driver's own comparison of the
// stored checksums catches it and removes the generation it wrote.
func TestCorruptedUpload(t *testing.T) {
	srv := gcstest.NewServer(t)
	srv.MustCreateBucket(t, "corrupt")
	proxy := corruptingProxy(t, srv.Endpoint())
	b := mustOpen(t, "gs://corrupt/p?endpoint="+proxy)

	for _, tc := range []struct {
		name string
		size int
		want driver.Code
	}{
		{"single-request", 1000, driver.Permanent}, // the server's 400
		{"chunked", 20<<20 + 3, driver.Transient},  // the driver's check
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			copy(data[tc.size/2:], marker)
			_, err := put(t.Context(), b, "data/"+tc.name, data)
			checkCode(t, "Put of damaged bytes", err, tc.want)
			_, err = b.Stat(t.Context(), "data/"+tc.name)
			checkCode(t, "Stat after a damaged Put", err, driver.NotFound)

			// The same path carries clean bytes intact.
			clean := make([]byte, tc.size)
			copy(clean, "clean")
			if _, err := put(t.Context(), b, "data/clean-"+tc.name, clean); err != nil {
				t.Fatalf("Put of clean bytes through the proxy: %v", err)
			}
			crc, _ := drivertest.Checksums(clean)
			if a, err := b.Stat(t.Context(), "data/clean-"+tc.name); err != nil || a.CRC32C != crc {
				t.Fatalf("Stat of clean object = %+v, %v", a, err)
			}
		})
	}
}
