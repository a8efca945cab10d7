// Package ui is the small logging interface engines write to.
//
// Engines never import the GitHub Actions adapter: they take a Logger, and the
// action binaries and the CLI hand them the same adapter, so both run the very
// same code. Text and Discard serve tests and plain terminals.
package ui

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// Logger is what an engine may say while it works.
type Logger interface {
	// Infof prints a plain line.
	Infof(format string, args ...any)
	// Warnf prints a warning annotation.
	Warnf(format string, args ...any)
	// Errorf prints an error annotation; it does not end the program.
	Errorf(format string, args ...any)
	// Debugf prints a line shown only when debugging is on.
	Debugf(format string, args ...any)
	// Group starts a collapsible section and returns the function that ends it.
	Group(title string) (end func())
}

// Text is a Logger for plain terminals and tests.
type Text struct {
	mu    sync.Mutex
	w     io.Writer
	debug bool
	depth int
}

// NewText returns a Logger writing plain lines to w.
func NewText(w io.Writer, debug bool) *Text { return &Text{w: w, debug: debug} }

func (t *Text) line(prefix, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	indent := strings.Repeat("  ", t.depth)
	for _, l := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		fmt.Fprintf(t.w, "%s%s%s\n", indent, prefix, l)
	}
}

// Infof prints a plain line.
func (t *Text) Infof(format string, args ...any) { t.line("", format, args...) }

// Warnf prints "warning: ...".
func (t *Text) Warnf(format string, args ...any) { t.line("warning: ", format, args...) }

// Errorf prints "error: ...".
func (t *Text) Errorf(format string, args ...any) { t.line("error: ", format, args...) }

// Debugf prints "debug: ..." when debugging is on.
func (t *Text) Debugf(format string, args ...any) {
	if t.debug {
		t.line("debug: ", format, args...)
	}
}

// Group prints a header line and indents until the returned function is called.
func (t *Text) Group(title string) func() {
	t.line("▸ ", "%s", title)
	t.mu.Lock()
	t.depth++
	t.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			t.depth--
			t.mu.Unlock()
		})
	}
}

// Discard is a Logger that drops everything.
var _ Logger = Discard{}

// Discard drops every message.
type Discard struct{}

// Infof drops the message.
func (Discard) Infof(string, ...any) {}

// Warnf drops the message.
func (Discard) Warnf(string, ...any) {}

// Errorf drops the message.
func (Discard) Errorf(string, ...any) {}

// Debugf drops the message.
func (Discard) Debugf(string, ...any) {}

// Group returns a no-op end function.
func (Discard) Group(string) func() { return func() {} }

// Buffer is a goroutine-safe text buffer, for a Text logger (or a command's
// output) read while it is being written.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Reset empties the buffer.
func (s *Buffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}
