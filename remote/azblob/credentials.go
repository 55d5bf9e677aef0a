package azblob

import (
	"errors"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Environment variables of the standard Azure Storage discovery.
const (
	envConnectionString = "AZURE_STORAGE_CONNECTION_STRING"
	envAccount          = "AZURE_STORAGE_ACCOUNT"
	envKey              = "AZURE_STORAGE_KEY"
)

// errNoCredentials names every source Open tried. (DefaultAzureCredential
// would need github.com/Azure/azure-sdk-for-go/sdk/azidentity, which sealfs
// does not depend on.)
var errNoCredentials = errors.New("azblob: no credentials: give a connection string with " +
	"--credentials-file, or set " + envConnectionString + ", or " + envAccount + " and " + envKey)

// newContainerClient builds the client for containerName from the first
// credential source available; endpoint, when not empty, is the blob
// service URL. Errors never quote a secret.
func newContainerClient(containerName, endpoint string, creds []byte) (*container.Client, error) {
	opts := clientOptions()
	connStr := strings.TrimSpace(string(creds))
	if creds == nil {
		connStr = os.Getenv(envConnectionString)
	}
	if connStr != "" {
		if endpoint != "" {
			connStr = withBlobEndpoint(connStr, endpoint)
		}
		client, err := container.NewClientFromConnectionString(connStr, containerName, opts)
		if err != nil {
			return nil, errors.New("azblob: malformed connection string")
		}
		return client, nil
	}
	account, key := os.Getenv(envAccount), os.Getenv(envKey)
	if account == "" || key == "" {
		return nil, errNoCredentials
	}
	cred, err := container.NewSharedKeyCredential(account, key)
	if err != nil {
		return nil, errors.New("azblob: malformed " + envKey)
	}
	if endpoint == "" {
		endpoint = "https://" + account + ".blob.core.windows.net"
	}
	containerURL, err := url.JoinPath(endpoint, containerName)
	if err != nil {
		return nil, err
	}
	return container.NewClientWithSharedKeyCredential(containerURL, cred, opts)
}

// withBlobEndpoint replaces (or adds) the BlobEndpoint of a connection
// string; the SDK then takes the service URL from it.
func withBlobEndpoint(connStr, endpoint string) string {
	var kept []string
	for _, part := range strings.Split(connStr, ";") {
		k, _, _ := strings.Cut(part, "=")
		if part != "" && !strings.EqualFold(strings.TrimSpace(k), "BlobEndpoint") {
			kept = append(kept, part)
		}
	}
	return strings.Join(append(kept, "BlobEndpoint="+endpoint), ";")
}

// clientOptions keeps the SDK's retries for single requests; conditional
// commits turn them off per call (see noRetry).
func clientOptions() *container.ClientOptions {
	var o container.ClientOptions
	o.Telemetry = policy.TelemetryOptions{Disabled: true}
	return &o
}
