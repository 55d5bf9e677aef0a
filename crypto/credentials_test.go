package crypto_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

func TestCredentialsRoundTripAndTamper(t *testing.T) {
	k, err := crypto.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	const url = "az://account/container"
	plain := []byte(`{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----secret"}`)
	sealed, err := k.SealCredentials(url, plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("sealed credentials contain plaintext")
	}
	got, err := k.OpenCredentials(url, sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("OpenCredentials = %q, %v", got, err)
	}
	sealed[len(sealed)/2] ^= 1
	if _, err := k.OpenCredentials(url, sealed); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("tampered: %v, want ErrAuth", err)
	}
	other, _ := crypto.GenerateMasterKey()
	sealed[len(sealed)/2] ^= 1
	if _, err := other.OpenCredentials(url, sealed); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("other key: %v, want ErrAuth", err)
	}
	// Bound to the URL: another endpoint never gets them.
	if _, err := k.OpenCredentials("az://attacker/container", sealed); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("other URL: %v, want ErrAuth", err)
	}
}

func TestConfigMAC(t *testing.T) {
	k, _ := crypto.GenerateMasterKey()
	other, _ := crypto.GenerateMasterKey()
	a, b := k.ConfigMAC([]byte("config")), k.ConfigMAC([]byte("config!"))
	if len(a) != 32 || bytes.Equal(a, b) || !bytes.Equal(a, k.ConfigMAC([]byte("config"))) {
		t.Fatalf("ConfigMAC not a deterministic 32-byte MAC of its input")
	}
	if bytes.Equal(a, other.ConfigMAC([]byte("config"))) {
		t.Fatal("two keys give the same config MAC")
	}
}
