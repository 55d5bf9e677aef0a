package crypto_test

import (
	"errors"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

// TestWrapperAdvance: after Advance, new DEKs are wrapped under the new
// key, those under the old one still unwrap and are Stale, and Rewrap
// moves them; a third key's DEK is refused.
func TestWrapperAdvance(t *testing.T) {
	old, _ := crypto.GenerateMasterKey()
	next, _ := crypto.GenerateMasterKey()
	other, _ := crypto.GenerateMasterKey()
	w := crypto.NewWrapper(old)
	id, _ := crypto.NewFileID()
	before, err := w.NewDEK(id)
	if err != nil {
		t.Fatal(err)
	}
	fk := crypto.FileKey{KeyID: old.ID(), Wrapped: before}
	if w.Stale(fk) {
		t.Fatal("stale before any Advance")
	}
	w.Advance(next)
	if w.KeyID() != next.ID() {
		t.Fatalf("KeyID after Advance: %s", w.KeyID())
	}
	if !w.Stale(fk) {
		t.Fatal("a DEK under the old key is not stale")
	}
	if err := w.CheckWrapped(id, old.ID(), before); err != nil {
		t.Fatalf("a DEK under the old key: %v", err)
	}
	moved, err := crypto.Rewrap(w, w, id, fk)
	if err != nil || moved.KeyID != next.ID() || w.Stale(moved) {
		t.Fatalf("rewrap: %+v %v", moved, err)
	}
	if err := crypto.NewWrapper(next).CheckWrapped(id, moved.KeyID, moved.Wrapped); err != nil {
		t.Fatalf("the rewrapped DEK under the new key alone: %v", err)
	}
	after, _ := w.NewDEK(id)
	if err := crypto.NewWrapper(next).CheckWrapped(id, next.ID(), after); err != nil {
		t.Fatalf("a new DEK is not under the new key: %v", err)
	}
	third, _ := crypto.NewWrapper(other).NewDEK(id)
	if err := w.CheckWrapped(id, other.ID(), third); !errors.Is(err, crypto.ErrWrongKey) {
		t.Fatalf("a third key's DEK: %v, want ErrWrongKey", err)
	}
}
