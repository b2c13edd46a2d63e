package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Signals are the signal names the agent may send the app, in
// documentation order: Notify.Signal, and env mode's signal reload. This is
// the one list; the agent sends a signal by its name
// (golang.org/x/sys/unix.SignalNum), so it needs no table of numbers.
var Signals = []string{"SIGHUP", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGINT"}

// ValidateSignal checks that name is one of Signals. The error quotes the
// name, cut short, and lists the accepted ones.
func ValidateSignal(name string) error {
	if !slices.Contains(Signals, name) {
		return fmt.Errorf("%s is not one of %s", shortQuote(name), strings.Join(Signals, ", "))
	}
	return nil
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// String formats like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string such as "90s" or "5m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	if v < 0 {
		return fmt.Errorf("duration %q must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// FileMode is a permission mode written as an octal string ("0400").
type FileMode uint32

// String formats as four octal digits.
func (m FileMode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// MarshalJSON writes the mode as an octal string.
func (m FileMode) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// UnmarshalJSON reads an octal string such as "0440".
func (m *FileMode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("mode must be an octal string such as \"0400\": %w", err)
	}
	v, err := ParseFileMode(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseFileMode reads an octal permission string such as "0440".
func ParseFileMode(s string) (FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("mode %q must be octal permissions such as \"0400\"", s)
	}
	return FileMode(v), nil
}
