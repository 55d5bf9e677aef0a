package crypto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrKeyFilePerm reports a key file readable or writable by group or others.
var ErrKeyFilePerm = errors.New("key file permissions too open")

// keyFilePrefix starts the single text line of a key file (format v1):
// "sealfs-master-key-v1 <64 lowercase hex digits>\n".
const keyFilePrefix = "sealfs-master-key-v1 "

// maxKeyFileSize bounds what LoadKeyFile reads; a v1 key file is 86 bytes.
const maxKeyFileSize = 4096

// CreateKeyFile generates a master key and writes it to a new file at path
// (WriteKeyFile).
func CreateKeyFile(path string) (*MasterKey, error) {
	k, err := GenerateMasterKey()
	if err != nil {
		return nil, err
	}
	if err := WriteKeyFile(path, k); err != nil {
		return nil, err
	}
	return k, nil
}

// WriteKeyFile writes k to a new file at path, mode 0600, creating missing
// parent directories with mode 0700. It refuses to overwrite an existing
// file. The file and its directory are fsynced before it returns.
func WriteKeyFile(path string, k *MasterKey) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create key file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create key file %s: %w", path, err)
	}
	text := k.keyFileText()
	_, err = f.Write(text)
	clear(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		// A half-written key file must not be mistaken for a key later.
		_ = os.Remove(path)
		return fmt.Errorf("create key file %s: %w", path, err)
	}
	return nil
}

// LoadKeyFile reads the master key from path. It refuses a file whose mode
// grants any permission to group or others (ErrKeyFilePerm), and a file that
// is not a sealfs key file. Errors never contain key material.
func LoadKeyFile(path string) (*MasterKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load key file %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("load key file %s: mode %04o: %w; run: chmod 600 %s",
			path, perm, ErrKeyFilePerm, path)
	}
	buf := make([]byte, maxKeyFileSize+1)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("load key file %s: %w", path, err)
	}
	k, err := ParseMasterKey(buf[:n])
	if err != nil {
		return nil, fmt.Errorf("load key file %s: %w", path, err)
	}
	return k, nil
}

// ParseMasterKey parses the text of a key file (one line, see
// docs/FORMAT.md), for keys given by other means than a file, such as an
// environment variable. Trailing whitespace is ignored. The error never
// quotes the input.
func ParseMasterKey(text []byte) (*MasterKey, error) {
	line := bytes.TrimRight(text, " \t\r\n")
	const hexLen = 2 * KeySize
	if !bytes.HasPrefix(line, []byte(keyFilePrefix)) || len(line) != len(keyFilePrefix)+hexLen {
		return nil, fmt.Errorf("not a sealfs master key (want one line %q followed by %d hex digits)",
			keyFilePrefix, hexLen)
	}
	var b [KeySize]byte
	defer clear(b[:])
	// hex's own error quotes the offending character: do not wrap it.
	if _, err := hex.Decode(b[:], line[len(keyFilePrefix):]); err != nil {
		return nil, errors.New("malformed sealfs master key: invalid hex digit")
	}
	return newMasterKey(b), nil
}

// keyFileText returns the key file line for k; the caller clears it.
func (k *MasterKey) keyFileText() []byte {
	out := make([]byte, 0, len(keyFilePrefix)+2*KeySize+1)
	out = append(out, keyFilePrefix...)
	out = hex.AppendEncode(out, k.key[:])
	return append(out, '\n')
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReplaceKeyFile puts k in the key file at path in one step: it is written
// whole beside it (WriteKeyFile) and renamed over it, so a crash leaves
// the old key file or the new one.
func ReplaceKeyFile(path string, k *MasterKey) error {
	tmp := path + ".new"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replace key file %s: %w", path, err)
	}
	if err := WriteKeyFile(tmp, k); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("replace key file %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}
