//go:build unix && !linux

package envexec

// becomeSubreaper does nothing outside Linux: orphans go to PID 1, which
// the wrapper is in a container.
func becomeSubreaper() error { return nil }
