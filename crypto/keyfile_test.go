package crypto_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

func TestKeyFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "master.key")
	k, err := crypto.CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode %04o, want 0700", di.Mode().Perm())
	}
	k2, err := crypto.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID() != k2.ID() || !bytes.Equal(k.BadgerKey(), k2.BadgerKey()) {
		t.Fatal("loaded key differs from created key")
	}
	if _, err := crypto.CreateKeyFile(path); err == nil {
		t.Fatal("CreateKeyFile overwrote an existing key file")
	}
	if k3, err := crypto.LoadKeyFile(path); err != nil || k3.ID() != k.ID() {
		t.Fatalf("key file changed by refused create: %v", err)
	}
}

func TestKeyFilePerm(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o644, 0o604, 0o660} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if _, err := crypto.CreateKeyFile(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := crypto.LoadKeyFile(path)
			if !errors.Is(err, crypto.ErrKeyFilePerm) {
				t.Fatalf("LoadKeyFile of a %04o file: %v", mode, err)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600 "+path) {
				t.Fatalf("error %q does not name the file and the fix", msg)
			}
		})
	}
}

func TestKeyFileBadContent(t *testing.T) {
	const hex64 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	tests := []struct {
		name, text string
		ok         bool
	}{
		{"valid", "sealfs-master-key-v1 " + hex64 + "\n", true},
		{"no newline", "sealfs-master-key-v1 " + hex64, true},
		{"crlf", "sealfs-master-key-v1 " + hex64 + "\r\n", true},
		{"empty", "", false},
		{"wrong prefix", "sealfs-master-key-v2 " + hex64 + "\n", false},
		{"short", "sealfs-master-key-v1 " + hex64[:62] + "\n", false},
		{"long", "sealfs-master-key-v1 " + hex64 + "00\n", false},
		{"bad hex", "sealfs-master-key-v1 " + hex64[:60] + "zzzz\n", false},
		{"second line", "sealfs-master-key-v1 " + hex64 + "\nmore\n", false},
		{"raw bytes", strings.Repeat("\x01", 32), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := crypto.LoadKeyFile(path)
			if (err == nil) != tt.ok {
				t.Fatalf("LoadKeyFile: %v, want ok=%v", err, tt.ok)
			}
			if err != nil && (strings.Contains(err.Error(), "zz") || strings.Contains(err.Error(), hex64[:16])) {
				t.Fatalf("error %q quotes the key file", err)
			}
		})
	}
	if _, err := crypto.LoadKeyFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing key file: %v", err)
	}
}

// TestKeyNeverPrinted formats a key every way fmt can and looks for its bytes.
func TestKeyNeverPrinted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	k, err := crypto.CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(path)
	secret := strings.TrimSpace(strings.TrimPrefix(string(text), "sealfs-master-key-v1 "))
	raw := string(must(t, secret))
	out := fmt.Sprintf("%v %+v %#v %s %x %X %d %q", k, k, k, k, k, k, k, k) +
		fmt.Sprintf("%v %+v %#v %x %d", *k, *k, *k, *k, *k)
	for _, leak := range []string{secret, strings.ToUpper(secret), secret[:16], raw} {
		if strings.Contains(out, leak) {
			t.Fatalf("formatted key leaks key bytes: %s", out)
		}
	}
	if !strings.Contains(out, k.ID().String()) {
		t.Fatalf("formatted key does not show its ID: %s", out)
	}
}

func must(t *testing.T, hexKey string) []byte {
	t.Helper()
	var b []byte
	if _, err := fmt.Sscanf(hexKey, "%x", &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDerivedKeys(t *testing.T) {
	k1, _ := crypto.GenerateMasterKey()
	k2, _ := crypto.GenerateMasterKey()
	if k1.ID() == k2.ID() || bytes.Equal(k1.BadgerKey(), k2.BadgerKey()) {
		t.Fatal("two random keys derive the same values")
	}
	if len(k1.BadgerKey()) != crypto.KeySize {
		t.Fatalf("badger key is %d bytes", len(k1.BadgerKey()))
	}
	if id := k1.ID(); bytes.Equal(id[:], k1.BadgerKey()[:16]) {
		t.Fatal("key ID and badger key share bytes")
	}
	if got := crypto.NewWrapper(k1).KeyID(); got != k1.ID() {
		t.Fatalf("wrapper key ID %s, want %s", got, k1.ID())
	}
	if s := k1.ID().String(); len(s) != 32 {
		t.Fatalf("KeyID.String() = %q", s)
	}
	id, err := crypto.NewFileID()
	if err != nil || len(id.String()) != 32 {
		t.Fatalf("NewFileID: %s, %v", id, err)
	}
}
