package keyslot_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/keyslot"
)

var update = flag.Bool("update", false, "regenerate testdata/keys-v1.json (then commit it)")

// The golden slot file's secrets. The master key is crypto's golden key.
const (
	goldenPassphrase = "golden passphrase v1"
	goldenStore      = "00112233445566778899aabbccddeeff"
)

// TestGoldenV1: a version 1 slot file keeps opening with each of its
// secrets, and keeps its MAC.
func TestGoldenV1(t *testing.T) {
	// git does not keep the key file's 0600 mode: parse its line.
	text, err := os.ReadFile(filepath.Join("..", "crypto", "testdata", "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.ParseMasterKey(text)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "keys-v1.json")
	codePath := filepath.Join("testdata", "keys-v1.code")
	if *update {
		f := keyslot.New(goldenStore, key)
		f.AddKeyFile()
		if _, err := f.AddPassphrase(key, []byte(goldenPassphrase), cheap); err != nil {
			t.Fatal(err)
		}
		_, code, err := f.AddRecoveryCode(key)
		if err != nil {
			t.Fatal(err)
		}
		f.Seal(key)
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, f.Marshal(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(codePath, []byte(code+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(codePath)
	if err != nil {
		t.Fatal(err)
	}
	f, err := keyslot.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.StoreID != goldenStore || len(f.Slots) != 3 {
		t.Fatalf("golden file: store %s, %d slots", f.StoreID, len(f.Slots))
	}
	for name, s := range map[string]keyslot.Secret{
		"key file":      {Key: key},
		"passphrase":    {Passphrase: []byte(goldenPassphrase)},
		"recovery code": {Passphrase: code},
	} {
		got, _, err := f.Unlock(s)
		if err != nil || got.ID() != key.ID() {
			t.Errorf("golden v1, %s: %v", name, err)
		}
	}
	if string(f.Marshal()) != string(b) {
		t.Error("the golden file does not re-encode to its own bytes")
	}
}
