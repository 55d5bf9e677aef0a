package azblob_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/sealfs/sealfs/remote/azblob"
	"github.com/sealfs/sealfs/remote/azblob/azblobtest"
	"github.com/sealfs/sealfs/remote/driver"
	"github.com/sealfs/sealfs/remote/drivertest"
)

// open opens rawURL with connStr, closed by t.Cleanup.
func open(t *testing.T, rawURL, connStr string) driver.Bucket {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := azblob.Open(t.Context(), u, driver.OpenOptions{Credentials: []byte(connStr)})
	if err != nil {
		t.Fatalf("Open(%s): %v", rawURL, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	srv := azblobtest.NewServer(t)
	drivertest.Run(t, func(t *testing.T) driver.Bucket {
		return open(t, srv.NewContainer(t), srv.ConnectionString())
	})
}

func tryOpen(t *testing.T, rawURL string, creds []byte) (driver.Bucket, error) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return azblob.Open(t.Context(), u, driver.OpenOptions{Credentials: creds})
}

func TestOpenErrors(t *testing.T) {
	srv := azblobtest.NewServer(t)
	cs := []byte(srv.ConnectionString())
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
	t.Setenv("AZURE_STORAGE_ACCOUNT", "")
	t.Setenv("AZURE_STORAGE_KEY", "")
	cases := []struct {
		name, url string
		creds     []byte
		want      driver.Code
	}{
		{"missing container", srv.URL("no-such-container"), cs, driver.NotFound},
		{"no container name", "azblob:///prefix", cs, driver.Permanent},
		{"no credentials", srv.URL("c"), nil, driver.Permanent},
		{"wrong key", srv.URL("c"), []byte("AccountName=devstoreaccount1;AccountKey=AAAA;BlobEndpoint=" + srv.Endpoint()), driver.Permanent},
		{"nothing listening", "azblob://c/?endpoint=http%3A%2F%2F127.0.0.1%3A1%2Fdevstoreaccount1", cs, driver.Transient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tryOpen(t, tc.url, tc.creds)
			if c := driver.CodeOf(err); c != tc.want {
				t.Fatalf("Open = %v, %v (code %v), want code %v", b, err, c, tc.want)
			}
			if strings.Contains(err.Error(), azblobtest.AccountKey) {
				t.Fatalf("error quotes the account key: %v", err)
			}
		})
	}
}

// TestEnvironmentCredentials opens with nothing given, through
// AZURE_STORAGE_CONNECTION_STRING, then AZURE_STORAGE_ACCOUNT/KEY.
func TestEnvironmentCredentials(t *testing.T) {
	srv := azblobtest.NewServer(t)
	rawURL := srv.NewContainer(t)
	t.Run("connection string", func(t *testing.T) {
		t.Setenv("AZURE_STORAGE_CONNECTION_STRING", srv.ConnectionString())
		if _, err := tryOpen(t, rawURL, nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("account and key", func(t *testing.T) {
		t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
		t.Setenv("AZURE_STORAGE_ACCOUNT", azblobtest.Account)
		t.Setenv("AZURE_STORAGE_KEY", azblobtest.AccountKey)
		if _, err := tryOpen(t, rawURL, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestServerVerifiesMD5: with a correct CRC32C (checked by the driver) and
// a wrong MD5, only the service can object; Azurite does, as Azure does
// (Azure says Md5Mismatch, Azurite InvalidOperation; both 400).
func TestServerVerifiesMD5(t *testing.T) {
	rawURL, cs := azblobtest.Start(t)
	b := open(t, rawURL, cs)
	data := []byte("sealfs ciphertext")
	crc, sum := drivertest.Checksums(data)
	sum[0] ^= 1
	_, err := b.Put(t.Context(), "k", bytes.NewReader(data), int64(len(data)), driver.PutOptions{CRC32C: crc, MD5: sum})
	var respErr *azcore.ResponseError
	if c := driver.CodeOf(err); c != driver.Permanent || !errors.As(err, &respErr) || respErr.StatusCode != http.StatusBadRequest {
		t.Fatalf("Put with a wrong MD5: err = %v (code %v), want the service's 400", err, c)
	}
	if _, err := b.Stat(t.Context(), "k"); driver.CodeOf(err) != driver.NotFound {
		t.Fatalf("Stat after the rejected Put: %v, want NotFound", err)
	}
}

func TestRegistered(t *testing.T) {
	if _, ok := driver.Lookup(azblob.Scheme); !ok {
		t.Fatalf("scheme %q is not registered", azblob.Scheme)
	}
}
