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
	plain := []byte(`{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----secret"}`)
	sealed, err := k.SealCredentials(plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("sealed credentials contain plaintext")
	}
	got, err := k.OpenCredentials(sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("OpenCredentials = %q, %v", got, err)
	}
	sealed[len(sealed)/2] ^= 1
	if _, err := k.OpenCredentials(sealed); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("tampered: %v, want ErrAuth", err)
	}
	other, _ := crypto.GenerateMasterKey()
	sealed[len(sealed)/2] ^= 1
	if _, err := other.OpenCredentials(sealed); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("other key: %v, want ErrAuth", err)
	}
}
