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
	return newCountProgress(w, doing, done, "files")
}

// newCountProgress is newProgress counting things called noun; with no
// bytes given to Start, it counts those alone.
func newCountProgress(w io.Writer, doing, done, noun string) progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barProgress{w: w, doing: doing, noun: noun}
	}
	return &lineProgress{w: w, doing: doing, done: done, noun: noun, every: 10 * time.Second}
}

type progress interface {
	Start(files int, bytes int64)
	// Add counts files finished and bytes done since the last call.
	Add(files int, bytes int64)
	Done()
}

type barProgress struct {
	w           io.Writer
	doing, noun string
	counts      bool // no bytes: the bar counts nouns
	bar         *progressbar.ProgressBar
}

func (p *barProgress) Start(files int, bytes int64) {
	total := bytes
	if p.counts = bytes == 0; p.counts {
		total = int64(files)
	}
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(fmt.Sprintf("%s %d %s", p.doing, files, p.noun)),
		progressbar.OptionShowBytes(!p.counts),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func (p *barProgress) Add(files int, bytes int64) {
	if p.counts {
		p.bar.Add(files)
	} else {
		p.bar.Add64(bytes)
	}
}
func (p *barProgress) Done() { p.bar.Finish() }

type lineProgress struct {
	w                 io.Writer
	doing, done, noun string
	every             time.Duration

	mu         sync.Mutex
	files, n   int
	total, sum int64
	last       time.Time
}

func (p *lineProgress) Start(files int, bytes int64) {
	p.files, p.total, p.last = files, bytes, time.Now()
	if bytes == 0 {
		fmt.Fprintf(p.w, "%s %d %s\n", p.doing, files, p.noun)
		return
	}
	fmt.Fprintf(p.w, "%s %d %s, %d bytes\n", p.doing, files, p.noun, bytes)
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
	if p.total == 0 {
		fmt.Fprintf(p.w, "%s %d of %d %s\n", p.done, p.n, p.files, p.noun)
		return
	}
	fmt.Fprintf(p.w, "%s %d of %d %s, %d of %d bytes\n", p.done, p.n, p.files, p.noun, p.sum, p.total)
}
