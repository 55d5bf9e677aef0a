package azblob

import (
	"errors"
	"net"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/sealfs/sealfs/remote/driver"
)

func TestClassify(t *testing.T) {
	resp := func(status int, code string) error {
		return &azcore.ResponseError{StatusCode: status, ErrorCode: code}
	}
	cases := []struct {
		err  error
		want driver.Code
	}{
		{resp(404, "BlobNotFound"), driver.NotFound},
		{resp(404, "ContainerNotFound"), driver.NotFound},
		{resp(409, "BlobAlreadyExists"), driver.AlreadyExists},
		{resp(412, "ConditionNotMet"), driver.AlreadyExists},
		{resp(503, "ServerBusy"), driver.Transient},
		{resp(500, "InternalError"), driver.Transient},
		{resp(429, ""), driver.Transient},
		{resp(400, "Md5Mismatch"), driver.Permanent},
		{resp(403, "AuthenticationFailed"), driver.Permanent},
		{resp(401, ""), driver.Permanent},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, driver.Transient},
		{errors.New("something else"), driver.Unknown},
	}
	for _, tc := range cases {
		if got := driver.CodeOf(classify(tc.err)); got != tc.want {
			t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestWithBlobEndpoint(t *testing.T) {
	got := withBlobEndpoint("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k==;BlobEndpoint=https://old;", "http://127.0.0.1:1/a")
	want := "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k==;BlobEndpoint=http://127.0.0.1:1/a"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestBlockIDsHaveOneLength(t *testing.T) {
	tag, err := uploadTag()
	if err != nil {
		t.Fatal(err)
	}
	if len(blockID(tag, 0)) != len(blockID(tag, maxBlocks-1)) {
		t.Fatalf("block IDs differ in length")
	}
}
