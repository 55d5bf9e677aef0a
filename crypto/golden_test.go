package crypto_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

var update = flag.Bool("update", false, "regenerate the golden files in testdata/ (then commit them)")

// Golden files of format versions 1 and 2: every future version of this package
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

func goldenPath(version, size int) string {
	return filepath.Join("testdata", fmt.Sprintf("v%d-%d.sealfs", version, size))
}

// goldenKeyPath holds a version 2 or 3 file's wrapped DEK as its content
// record would: "<key ID hex> <wrapped DEK hex>\n".
func goldenKeyPath(version, size int) string {
	return filepath.Join("testdata", fmt.Sprintf("v%d-%d.dek", version, size))
}

func readGoldenKey(t *testing.T, version, size int) crypto.FileKey {
	t.Helper()
	b, err := os.ReadFile(goldenKeyPath(version, size))
	if err != nil {
		t.Fatal(err)
	}
	var idHex, wrappedHex string
	if _, err := fmt.Sscan(string(b), &idHex, &wrappedHex); err != nil {
		t.Fatal(err)
	}
	var k crypto.FileKey
	id, err1 := hex.DecodeString(idHex)
	wrapped, err2 := hex.DecodeString(wrappedHex)
	if err1 != nil || err2 != nil || len(id) != len(k.KeyID) {
		t.Fatalf("%s: malformed", goldenKeyPath(version, size))
	}
	copy(k.KeyID[:], id)
	k.Wrapped = wrapped
	return k
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
	for _, version := range []int{1, 2, crypto.PlainVersion} {
		for _, g := range goldenFiles {
			t.Run(fmt.Sprintf("v%d/%d", version, g.size), func(t *testing.T) {
				b, err := os.Open(goldenPath(version, g.size))
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				var key crypto.FileKey // version 1: the header's own
				if version != 1 {
					key = readGoldenKey(t, version, g.size)
				}
				f, err := crypto.OpenFile(w, b, key)
				if err != nil {
					t.Fatal(err)
				}
				h := f.Header()
				if int(h.Version) != version || h.BlockSize != B || f.Key().KeyID != k.ID() || f.Size() != int64(g.size) {
					t.Fatalf("header %+v size %d", h, f.Size())
				}
				got, err := readAll(f)
				if err != nil {
					t.Fatal(err)
				}
				if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != g.sha256 {
					t.Fatalf("plaintext sha256 %x, want %s", sum, g.sha256)
				}
				if version == 1 {
					if _, err := f.WriteAt([]byte("x"), 0); err == nil {
						t.Fatal("a version 1 file took a write")
					}
				}
			})
		}
	}
}

// TestGoldenV1RecordKey opens a version 1 file with the copy of its DEK a
// content record holds, rewrapped under another key: rotation reaches
// version 1 files through their records too.
func TestGoldenV1RecordKey(t *testing.T) {
	k := goldenKey(t)
	w := crypto.NewWrapper(k)
	g := goldenFiles[3]
	raw, err := os.ReadFile(goldenPath(1, g.size))
	if err != nil {
		t.Fatal(err)
	}
	h, err := crypto.ParseHeader(raw[:crypto.HeaderSizeV1])
	if err != nil {
		t.Fatal(err)
	}
	other := newWrapper(t)
	nk, err := crypto.Rewrap(w, other, h.FileID, crypto.FileKey{KeyID: h.KeyID, Wrapped: h.WrappedDEK})
	if err != nil {
		t.Fatal(err)
	}
	f, err := crypto.OpenFile(other, newMem(raw), nk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != g.sha256 {
		t.Fatalf("plaintext sha256 %x, want %s", sum, g.sha256)
	}
	// A flipped bit in a version 1 block or wrapped DEK still fails.
	for _, off := range []int{crypto.HeaderSizeV1 - 1, crypto.HeaderSizeV1 + 100, len(raw) - 1} {
		c := bytes.Clone(raw)
		c[off] ^= 1
		if err := openAndRead(w, c, crypto.FileKey{}, goldenPlain(g.size)); !errors.Is(err, crypto.ErrAuth) {
			t.Fatalf("v1 with byte %d flipped: %v, want ErrAuth", off, err)
		}
	}
}

// writeGolden writes the current version's golden files; those of earlier
// versions are never rewritten.
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
	for _, version := range []int{crypto.Version, crypto.PlainVersion} {
		for _, g := range goldenFiles {
			plain := goldenPlain(g.size)
			m := newMem(nil)
			id, err := crypto.NewFileID()
			if err != nil {
				t.Fatal(err)
			}
			f, err := crypto.CreateFileWithID(w, m, id, B, version == crypto.PlainVersion)
			if err == nil {
				_, err = f.WriteAt(plain, 0)
			}
			if err == nil {
				err = f.Flush()
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(goldenPath(version, g.size), m.bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			line := fmt.Sprintf("%s %x\n", f.Key().KeyID, f.Key().Wrapped)
			if err := os.WriteFile(goldenKeyPath(version, g.size), []byte(line), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("golden v%d size %d sha256 %x", version, g.size, sha256.Sum256(plain))
		}
	}
}
