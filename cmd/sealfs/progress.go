package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// quoteName prints a path as is when it is plain printable text, and
// Go-quoted otherwise, so no name can put raw control bytes on a terminal.
func quoteName(p string) string {
	for _, r := range p {
		if !unicode.IsPrint(r) || r == '"' || r == '\\' {
			return strconv.Quote(p)
		}
	}
	return p
}

// newProgress is a progress bar on a terminal and plain lines (about one
// every ten seconds, and at the end) anywhere else. verb says what is
// done to the files, in -ing and -ed forms ("downloading", "downloaded").
func newProgress(w io.Writer, doing, done string) progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barProgress{w: w, doing: doing}
	}
	return &lineProgress{w: w, doing: doing, done: done, every: 10 * time.Second}
}

type progress interface {
	Start(files int, bytes int64)
	// Add counts files finished and bytes done since the last call.
	Add(files int, bytes int64)
	Done()
}

type barProgress struct {
	w     io.Writer
	doing string
	bar   *progressbar.ProgressBar
}

func (p *barProgress) Start(files int, bytes int64) {
	p.bar = progressbar.NewOptions64(bytes,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(fmt.Sprintf("%s %d files", p.doing, files)),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func (p *barProgress) Add(_ int, bytes int64) { p.bar.Add64(bytes) }
func (p *barProgress) Done()                  { p.bar.Finish() }

type lineProgress struct {
	w           io.Writer
	doing, done string
	every       time.Duration

	mu         sync.Mutex
	files, n   int
	total, sum int64
	last       time.Time
}

func (p *lineProgress) Start(files int, bytes int64) {
	p.files, p.total, p.last = files, bytes, time.Now()
	fmt.Fprintf(p.w, "%s %d files, %d bytes\n", p.doing, files, bytes)
}

func (p *lineProgress) Add(files int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += files
	p.sum += bytes
	if time.Since(p.last) >= p.every {
		p.last = time.Now()
		p.line()
	}
}

func (p *lineProgress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line()
}

func (p *lineProgress) line() {
	fmt.Fprintf(p.w, "%s %d of %d files, %d of %d bytes\n", p.done, p.n, p.files, p.sum, p.total)
}
