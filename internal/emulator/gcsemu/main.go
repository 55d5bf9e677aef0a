// Command gcsemu is fake-gcs-server as a process for the tests, with the
// stop/restart control of package serve. Objects live in memory.
package main

import (
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/sealfs/sealfs/internal/emulator/serve"
)

func main() {
	serve.Main("gcsemu", func(addr string) (*serve.Emulator, error) {
		// The fake serves downloads only for requests whose Host is its
		// public host, so that must be exactly the address clients dial.
		fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{
			Scheme:     "http",
			NoListener: true,
			PublicHost: addr,
		})
		if err != nil {
			return nil, err
		}
		return &serve.Emulator{
			Handler: fake.HTTPHandler(),
			CreateBucket: func(name string) error {
				fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
				return nil
			},
		}, nil
	})
}
