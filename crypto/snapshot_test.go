package crypto_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

func newMasterKey(t *testing.T) *crypto.MasterKey {
	t.Helper()
	k, err := crypto.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sealSnapshot(t *testing.T, k *crypto.MasterKey, info crypto.SnapshotInfo, plain []byte) []byte {
	t.Helper()
	m := newMem(nil)
	f, err := crypto.CreateSnapshot(k, m, info)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(plain, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	return m.bytes()
}

func TestSnapshotRoundTripAndTamper(t *testing.T) {
	k := newMasterKey(t)
	info := crypto.SnapshotInfo{StoreID: [16]byte{7, 7}, Seq: 42, Time: 1_700_000_000_123_456_789}
	plain := randBytes(12, 3*B+17)
	c := sealSnapshot(t, k, info, plain)
	got, f, err := crypto.OpenSnapshot(k, newMem(bytes.Clone(c)))
	if err != nil {
		t.Fatal(err)
	}
	if got != info {
		t.Fatalf("info %+v, want %+v", got, info)
	}
	back, err := readAll(f)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "snapshot", back, plain)

	// A data object the attacker shaped (sealed as file content under the
	// same master key) is no snapshot, with or without a copied descriptor.
	w := crypto.NewWrapper(k)
	data, _ := sealed(t, w, B, plain)
	other := sealSnapshot(t, k, crypto.SnapshotInfo{StoreID: info.StoreID, Seq: 41}, plain)
	tests := []struct {
		name string
		c    []byte
		want error
	}{
		{"data object", data, crypto.ErrAuth},
		{"descriptor on a data object", append(bytes.Clone(c[:crypto.SnapshotDescriptorSize]), data...), crypto.ErrAuth},
		{"sequence changed", patch(c, 26+7, c[26+7]^1), crypto.ErrAuth},
		{"store ID changed", patch(c, 10, c[10]^1), crypto.ErrAuth},
		{"time changed", patch(c, 34+7, c[34+7]^1), crypto.ErrAuth},
		{"key ID changed", patch(c, 42, c[42]^1), crypto.ErrWrongKey},
		{"wrapped DEK changed", patch(c, 60, c[60]^1), crypto.ErrAuth},
		{"descriptor of another snapshot", append(bytes.Clone(other[:crypto.SnapshotDescriptorSize]), c[crypto.SnapshotDescriptorSize:]...), crypto.ErrAuth},
		{"block flipped", patch(c, len(c)-1, c[len(c)-1]^1), crypto.ErrAuth},
		{"cut", c[:len(c)-100], crypto.ErrAuth},
		{"empty", nil, crypto.ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, f, err := crypto.OpenSnapshot(k, newMem(bytes.Clone(tt.c)))
			if err == nil {
				_, err = readAll(f)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
	if _, _, err := crypto.OpenSnapshot(newMasterKey(t), newMem(c)); !errors.Is(err, crypto.ErrWrongKey) {
		t.Fatalf("other master key: %v, want ErrWrongKey", err)
	}
}

func TestManifestRoundTripAndTamper(t *testing.T) {
	k := newMasterKey(t)
	id := [16]byte{1, 2, 3}
	body := []byte(`{"snapshots":[]}`)
	b := k.SealManifest(id, 9, body)
	gotID, seq, got, err := k.OpenManifest(b)
	if err != nil || gotID != id || seq != 9 || !bytes.Equal(got, body) {
		t.Fatalf("OpenManifest = %x %d %q %v", gotID, seq, got, err)
	}
	for i := range b {
		if _, _, _, err := k.OpenManifest(patch(b, i, b[i]^0x10)); !errors.Is(err, crypto.ErrAuth) {
			t.Fatalf("byte %d flipped: %v, want ErrAuth", i, err)
		}
	}
	if _, _, _, err := newMasterKey(t).OpenManifest(b); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("other key: %v", err)
	}
	// A snapshot is no manifest.
	snap := sealSnapshot(t, k, crypto.SnapshotInfo{StoreID: id, Seq: 9}, body)
	if _, _, _, err := k.OpenManifest(snap); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("snapshot as manifest: %v", err)
	}
}
