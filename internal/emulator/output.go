package emulator

import (
	"bytes"
	"sync"
)

// limitedBuffer keeps the first outputLimit bytes a child process writes,
// for the failure message when it does not start.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const outputLimit = 64 << 10

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := outputLimit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
