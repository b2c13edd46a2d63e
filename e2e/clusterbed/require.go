package clusterbed

import (
	"errors"
	"os"
	"testing"
)

// ErrShort is the setup error of a suite run with -short: it needs the
// cluster, so it does not start it.
var ErrShort = errors.New("-short: this suite needs the real cluster")

// Require ends t unless the suite's setup succeeded (setupErr nil): with
// -short it skips; otherwise it fails in CI and skips locally, so that CI
// never passes by skipping.
func Require(t testing.TB, suite string, setupErr error) {
	t.Helper()
	switch {
	case setupErr == nil:
	case errors.Is(setupErr, ErrShort):
		t.Skip(setupErr)
	case os.Getenv("CI") == "true":
		t.Fatalf("%s: %v", suite, setupErr)
	default:
		t.Skipf("%s: %v", suite, setupErr)
	}
}
