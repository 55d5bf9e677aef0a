// Command s3emu is gofakes3, behind the shim in shim.go, as a process for
// the tests, with the stop/restart control of package serve. Objects live
// in memory.
package main

import (
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/sealfs/sealfs/internal/emulator/serve"
)

func main() {
	serve.Main("s3emu", func(string) (*serve.Emulator, error) {
		backend := s3mem.New()
		fake := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
		return &serve.Emulator{
			Handler:      &shim{next: fake.Server(), backend: backend},
			CreateBucket: backend.CreateBucket,
		}, nil
	})
}
