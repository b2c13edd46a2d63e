package testkit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// PollInterval is how often Poll and Eventually check their condition.
const PollInterval = 100 * time.Millisecond

// Poll calls cond every PollInterval until it reports true, returns an
// error, or timeout passes (or ctx ends): every wait in a test is bounded.
func Poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s", timeout)
		case <-t.C:
		}
	}
}

// Eventually calls f every PollInterval until it returns nil, and fails
// the test with what and f's last error if it still fails after timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	var last error
	err := Poll(context.Background(), timeout, func() (bool, error) {
		last = f()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: still failing after %s: %v", what, timeout, last)
	}
}
