// Package crypto holds sealfs's key handling and its content file format.
//
// A master key (32 random bytes, kept in a 0600 key file) never encrypts
// anything itself: HKDF-SHA256 derives one key per purpose from it (a key ID,
// the DEK-wrapping key, Badger's encryption-at-rest key). Every content file
// has its own random data encryption key (DEK), wrapped by the master key and
// kept by the caller (sealfs keeps it in the file's sealed content record,
// never beside the ciphertext), and is cut into plaintext blocks of a fixed size that are sealed
// independently with AES-256-GCM. The exact byte layout, and which attack each
// field defeats, is documented in docs/FORMAT.md.
//
// The package knows nothing of FUSE, Badger or buckets: a content file is
// read and written through the small Backing interface, which *os.File
// satisfies.
package crypto
