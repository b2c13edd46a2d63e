package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"unicode/utf8"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// TestInitTerminationMessage: when init gives up, the termination message
// `kubectl describe pod` shows names every missing secret, its reference
// and the backend's answer, and holds no secret value, although the
// secrets that were read hold the sentinel and one failed to render.
func TestInitTerminationMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		seed(f)
		f.fail("tradepulse/exchanges/binance/api-key", backend.ErrDenied)
		f.set("tradepulse/postgres-tls", `{"ca": "CA", "key": "`+sentinel) // not JSON: a render error
		h := newHarness(t, f, f, nil)
		err := h.agent.RunInit(context.Background())
		if err == nil {
			t.Fatal("init succeeded")
		}
		path := filepath.Join(t.TempDir(), "termination-log")
		if err := os.WriteFile(path, []byte("old"), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := WriteTerminationMessage(path, err); err != nil {
			t.Fatal(err)
		}
		b, rerr := os.ReadFile(path)
		if rerr != nil {
			t.Fatal(rerr)
		}
		msg := string(b)
		for _, want := range []string{
			"secret-injector: init: gave up after 30s",
			"api-key (tradepulse/exchanges/binance/api-key)", "access denied",
			"postgres-tls (tradepulse/postgres-tls)", "format json", "not valid JSON",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("termination message lacks %q:\n%s", want, msg)
			}
		}
		if strings.Contains(msg, sentinel) || strings.Contains(msg, sentinel[:12]) {
			t.Errorf("termination message holds a secret value:\n%s", msg)
		}
		if strings.Contains(msg, "mlflow") {
			t.Errorf("termination message names a secret that was written:\n%s", msg)
		}
	})
}

func TestTerminationMessageIsBounded(t *testing.T) {
	for _, n := range []int{10, MaxTerminationMessage - 17, MaxTerminationMessage, 5000, 100000} {
		// Multi-byte runes make a cut in the middle of one likely.
		long := errors.New(strings.Repeat("é", n/2) + "x")
		msg := TerminationMessage(long)
		if len(msg) > MaxTerminationMessage || !utf8.ValidString(msg) {
			t.Errorf("n=%d: %d bytes, valid UTF-8 %v", n, len(msg), utf8.ValidString(msg))
		}
		if full := "secret-injector: " + long.Error(); len(full) > MaxTerminationMessage {
			if !strings.HasSuffix(msg, truncatedNote) {
				t.Errorf("n=%d: a cut message does not say so", n)
			}
		} else if msg != full {
			t.Errorf("n=%d: a short message was changed", n)
		}
	}
	if got := TerminationMessage(errors.New("bad \xff byte")); got != "secret-injector: bad ? byte" {
		t.Errorf("invalid UTF-8 = %q", got)
	}
}

// Outside a container there is no termination log: nothing is created.
func TestWriteTerminationMessageNeedsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "termination-log")
	if err := WriteTerminationMessage(path, errors.New("x")); err != nil {
		t.Fatalf("no file: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file was created: %v", err)
	}
	if err := WriteTerminationMessage(filepath.Join(t.TempDir()), errors.New("x")); err == nil {
		t.Error("writing to a directory succeeded")
	}
}
