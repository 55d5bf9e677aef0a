package crypto

// CreateFileWithID is CreateFile with a file ID chosen by the caller, who
// names the ciphertext file after it. The ID should be fresh (NewFileID):
// the DEK is fresh either way, so a repeated ID weakens nothing but the
// uniqueness of names. plain makes plain content (PlainVersion): blocks
// authenticated, not encrypted.
func CreateFileWithID(w *Wrapper, b Backing, fileID FileID, blockSize int, plain bool) (*File, error) {
	version := uint16(Version)
	if plain {
		version = PlainVersion
	}
	return createFile(w, b, fileID, blockSize, version)
}
