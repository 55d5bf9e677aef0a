package crypto_test

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

var update = flag.Bool("update", false, "regenerate the golden files in testdata/ (then commit them)")

// Golden files of format version 1: every future version of this package
// must still open them. The plaintext of size n is goldenPlain(n).
const goldenKeyID = "b2be3b04cae57d3fc5dca37c454d4bbb"

var goldenFiles = []struct {
	size   int
	sha256 string
}{
	{0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	{1, "f031efa58744e97a34555ca98621d4e8a52ceb5f20b891d5c44ccae0daaaa644"},
	{B, "722bd5e59e96cf7eda35dbdfb288bd9a4f9586348df577316e7b769e2e34421d"},
	{2*B + 500, "b2549940a4f3716cd2503d09215ad8008f002b4f31b56a0ebae0912dd9ddf048"},
}

// goldenPlain is SHA-256("sealfs golden" || counter) blocks, cut to n bytes:
// defined here, not by a library that might change its stream.
func goldenPlain(n int) []byte {
	var out []byte
	for i := 0; len(out) < n; i++ {
		sum := sha256.Sum256(fmt.Appendf(nil, "sealfs golden %d", i))
		out = append(out, sum[:]...)
	}
	return out[:n]
}

func goldenPath(size int) string {
	return filepath.Join("testdata", fmt.Sprintf("v1-%d.sealfs", size))
}

// goldenKey loads testdata/master.key; git does not keep its 0600 mode, so
// it goes through a private copy.
func goldenKey(t *testing.T) *crypto.MasterKey {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := crypto.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestGolden(t *testing.T) {
	if *update {
		writeGolden(t)
	}
	k := goldenKey(t)
	if k.ID().String() != goldenKeyID {
		t.Fatalf("golden key ID %s, want %s", k.ID(), goldenKeyID)
	}
	w := crypto.NewWrapper(k)
	for _, g := range goldenFiles {
		t.Run(fmt.Sprint(g.size), func(t *testing.T) {
			b, err := os.Open(goldenPath(g.size))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			f, err := crypto.OpenFile(w, b)
			if err != nil {
				t.Fatal(err)
			}
			h := f.Header()
			if h.Version != 1 || h.BlockSize != B || h.KeyID != k.ID() || f.Size() != int64(g.size) {
				t.Fatalf("header %+v size %d", h, f.Size())
			}
			got, err := readAll(f)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != g.sha256 {
				t.Fatalf("plaintext sha256 %x, want %s", sum, g.sha256)
			}
		})
	}
}

func writeGolden(t *testing.T) {
	// The key is made once; later updates reseal under the same key.
	keyPath := filepath.Join("testdata", "master.key")
	if _, err := os.Stat(keyPath); os.IsNotExist(err) {
		if _, err := crypto.CreateKeyFile(keyPath); err != nil {
			t.Fatal(err)
		}
	}
	k := goldenKey(t)
	t.Logf("golden key ID %s", k.ID())
	w := crypto.NewWrapper(k)
	for _, g := range goldenFiles {
		plain := goldenPlain(g.size)
		if err := os.WriteFile(goldenPath(g.size), sealed(t, w, B, plain), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("golden size %d sha256 %x", g.size, sha256.Sum256(plain))
	}
}
