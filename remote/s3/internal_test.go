package s3

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sealfs/sealfs/remote/driver"
)

func TestCredentialsFromFile(t *testing.T) {
	cases := []struct {
		name, file        string
		id, secret, token string
		wantErr           bool
	}{
		{name: "default", file: "[default]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\n",
			id: "AKID", secret: "SECRET"},
		{name: "session token, comments, other profile first",
			file: "# c\n[other]\naws_access_key_id = NO\n\n[default]\n; c\nAWS_ACCESS_KEY_ID=AKID\naws_secret_access_key= SE=CRET \naws_session_token = TOK\n",
			id:   "AKID", secret: "SE=CRET", token: "TOK"},
		{name: "no default profile", file: "[prod]\naws_access_key_id = A\naws_secret_access_key = B\n", wantErr: true},
		{name: "no secret", file: "[default]\naws_access_key_id = A\n", wantErr: true},
		{name: "garbage", file: "[default]\nnot a pair\n", wantErr: true},
		{name: "empty", file: "", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := credentialsFromFile([]byte(tc.file))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, _ := p.Retrieve(t.Context())
			if c.AccessKeyID != tc.id || c.SecretAccessKey != tc.secret || c.SessionToken != tc.token {
				t.Fatalf("got %q %q %q", c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
			}
		})
	}
}

// httpErr builds the error the SDK returns for an HTTP failure.
func httpErr(status int, code string) error {
	resp := &smithyhttp.Response{Response: &http.Response{StatusCode: status}}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: resp, Err: &smithy.GenericAPIError{Code: code}},
	}}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want driver.Code
	}{
		{httpErr(404, "NoSuchKey"), driver.NotFound},
		{httpErr(404, "NotFound"), driver.NotFound},
		{httpErr(404, ""), driver.NotFound},
		{httpErr(412, "PreconditionFailed"), driver.AlreadyExists},
		{httpErr(409, "ConditionalRequestConflict"), driver.AlreadyExists},
		{httpErr(503, "SlowDown"), driver.Transient},
		{httpErr(500, "InternalError"), driver.Transient},
		{httpErr(429, ""), driver.Transient},
		{httpErr(400, "RequestTimeout"), driver.Transient},
		{httpErr(400, "BadDigest"), driver.Permanent},
		{httpErr(403, "AccessDenied"), driver.Permanent},
		{httpErr(401, ""), driver.Permanent},
		{&smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, driver.Transient},
		{fmt.Errorf("wrapped: %w", &net.OpError{Op: "read", Err: errors.New("reset")}), driver.Transient},
		{errors.New("something else"), driver.Unknown},
	}
	for _, tc := range cases {
		if got := driver.CodeOf(classify(tc.err)); got != tc.want {
			t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if classify(nil) != nil {
		t.Errorf("classify(nil) != nil")
	}
}

func TestPartSizeFor(t *testing.T) {
	for _, size := range []int64{multipartThreshold + 1, 300 << 20, 1 << 40, 5 << 40} {
		p := partSizeFor(size)
		if p < minPartSize || p%(1<<20) != 0 || (size+p-1)/p > maxParts {
			t.Errorf("partSizeFor(%d) = %d", size, p)
		}
	}
}

func TestCRC32CBase64(t *testing.T) {
	for _, crc := range []uint32{0, 1, 0xdeadbeef, 0xffffffff} {
		got, ok := crc32cFromBase64(crc32cBase64(crc))
		if !ok || got != crc {
			t.Errorf("round trip of %08x = %08x, %v", crc, got, ok)
		}
	}
	if _, ok := crc32cFromBase64("AAAAAA==-3"); ok {
		t.Errorf("composite checksum accepted")
	}
}
