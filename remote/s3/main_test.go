package s3_test

import (
	"os"
	"testing"

	"github.com/sealfs/sealfs/internal/emulator"
)

func TestMain(m *testing.M) { os.Exit(emulator.RunTests(m, nil)) }
