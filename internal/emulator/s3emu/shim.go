package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// EMULATOR SHIM. gofakes3 v1.2.0 already checks If-None-Match / If-Match on
// PutObject (atomically, in its backend) and verifies Content-MD5 on
// PutObject and UploadPart. It lacks two features real S3 has had since
// 2024, which the sealfs driver relies on:
//
//   - conditional CompleteMultipartUpload (If-None-Match: *, If-Match): it
//     ignores both headers there;
//   - x-amz-checksum-crc32c verification: it ignores the header on
//     PutObject, UploadPart and CompleteMultipartUpload (full-object type).
//
// And it has one bug the SDK trips over: it stores the x-amz-checksum-*
// request headers as metadata and echoes them on every GET, ranged ones
// included, where real S3 sends no full-object checksum; the SDK then
// rejects a correct range. shim drops those headers from 206 responses.
//
// shim adds exactly these, in front of gofakes3's handler, so the
// conformance suite exercises the same semantics as real S3: a failed
// condition is 412 PreconditionFailed, a checksum mismatch 400 BadDigest
// and nothing is stored. Object writes (PutObject, CompleteMultipartUpload)
// are serialized by one mutex so that a condition check and the write it
// guards are atomic. This is test scaffolding, never production code.
type shim struct {
	next    http.Handler
	backend *s3mem.Backend
	writeMu sync.Mutex
}

// crc32cHeader carries a base64 big-endian CRC32C of the body (or, on a
// completion, of the whole object).
const crc32cHeader = "X-Amz-Checksum-Crc32c"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (s *shim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	_, hasUploadID := q["uploadId"]
	isWrite := r.Method == http.MethodPut && key != "" && r.Header.Get("X-Amz-Copy-Source") == ""
	switch {
	case isWrite && hasUploadID: // UploadPart
		if s.verifyBody(w, r) {
			s.next.ServeHTTP(w, r)
		}
	case isWrite: // PutObject
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		if s.verifyBody(w, r) {
			s.next.ServeHTTP(w, r)
		}
	case r.Method == http.MethodPost && hasUploadID && key != "": // CompleteMultipartUpload
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		s.complete(w, r, bucket, key)
	case r.Method == http.MethodGet && r.Header.Get("Range") != "":
		s.next.ServeHTTP(rangeWriter{w}, r)
	default:
		s.next.ServeHTTP(w, r)
	}
}

// verifyBody checks the body against x-amz-checksum-crc32c when the request
// has one, answering BadDigest and returning false on a mismatch.
func (s *shim) verifyBody(w http.ResponseWriter, r *http.Request) bool {
	want := r.Header.Get(crc32cHeader)
	if want == "" {
		return true
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "IncompleteBody", err.Error())
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if got := crc32cBase64(crc32.Checksum(body, castagnoli)); got != want {
		writeError(w, http.StatusBadRequest, "BadDigest",
			fmt.Sprintf("The CRC32C you specified (%s) did not match the calculated checksum (%s).", want, got))
		return false
	}
	return true
}

// complete runs a CompleteMultipartUpload with its write condition checked
// first and its full-object CRC32C checked after: a mismatching object is
// deleted again before anyone is told it exists (writes are serialized).
func (s *shim) complete(w http.ResponseWriter, r *http.Request, bucket, key string) {
	if err := s.checkConditions(r, bucket, key); err != nil {
		writeError(w, http.StatusPreconditionFailed, "PreconditionFailed", err.Error())
		return
	}
	rec := httptest.NewRecorder()
	s.next.ServeHTTP(rec, r)
	want := r.Header.Get(crc32cHeader)
	if rec.Code == http.StatusOK && want != "" && !bytes.Contains(rec.Body.Bytes(), []byte("<Error>")) {
		if got, err := s.storedCRC32C(bucket, key); err != nil || got != want {
			_, _ = s.backend.DeleteObject(bucket, key)
			writeError(w, http.StatusBadRequest, "BadDigest",
				fmt.Sprintf("The full-object CRC32C you specified (%s) did not match the calculated checksum (%s, %v).", want, got, err))
			return
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// rangeWriter drops full-object checksum headers from partial content.
type rangeWriter struct{ http.ResponseWriter }

func (w rangeWriter) WriteHeader(status int) {
	if status == http.StatusPartialContent {
		for k := range w.Header() {
			if strings.HasPrefix(k, "X-Amz-Checksum-") {
				w.Header().Del(k)
			}
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// checkConditions applies If-None-Match / If-Match to the current object
// with gofakes3's own rules.
func (s *shim) checkConditions(r *http.Request, bucket, key string) error {
	var cond gofakes3.PutConditions
	if v := r.Header.Get("If-None-Match"); v != "" {
		cond.IfNoneMatch = &v
	}
	if v := r.Header.Get("If-Match"); v != "" {
		cond.IfMatch = &v
	}
	if cond.IfNoneMatch == nil && cond.IfMatch == nil {
		return nil
	}
	var info gofakes3.ConditionalObjectInfo
	obj, err := s.backend.HeadObject(bucket, key)
	switch {
	case err == nil:
		info.Exists, info.Hash = true, obj.Hash
	case !gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey):
		return err
	}
	return gofakes3.CheckPutConditions(&cond, &info)
}

// storedCRC32C computes the CRC32C of the stored object.
func (s *shim) storedCRC32C(bucket, key string) (string, error) {
	obj, err := s.backend.GetObject(bucket, key, nil)
	if err != nil {
		return "", err
	}
	defer obj.Contents.Close()
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, obj.Contents); err != nil {
		return "", err
	}
	return crc32cBase64(h.Sum32()), nil
}

func crc32cBase64(crc uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc)
	return base64.StdEncoding.EncodeToString(b[:])
}

// writeError answers with an S3 XML error document.
func writeError(w http.ResponseWriter, status int, code, message string) {
	body, _ := xml.Marshal(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string
		Message string
	}{Code: code, Message: message})
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = w.Write(append([]byte(xml.Header), body...))
}
