package testkit

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for a child's stdout and stderr writers
// and for readers at the same time. The zero value is ready to use.
type Buffer struct {
	// Limit, when positive, is the size past which further writes are
	// dropped (and reported written), so that a chatty process measured
	// for a long time cannot grow the test's memory.
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p, unless the buffer is over its Limit.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Limit > 0 && b.b.Len() > b.Limit {
		return len(p), nil
	}
	return b.b.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
