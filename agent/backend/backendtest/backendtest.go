// Package backendtest is the conformance suite every backend passes against
// its real (or in-process protocol) server: the same cases, the same
// assertions, so that "gone" and "denied" mean the same on every backend.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// Harness drives one backend and the server behind it.
type Harness struct {
	// Backend is the client under test, configured against the server.
	Backend backend.Backend
	// Put creates the secret or adds a new version of it.
	Put func(t *testing.T, ref string, data []byte)
	// Delete removes the secret so that reads report it gone.
	Delete func(t *testing.T, ref string)
	// Deny makes the server refuse reads of ref (true) or allow them again.
	// Nil when the backend has no access control (env).
	Deny func(t *testing.T, ref string, denied bool)
	// Throttle makes the server answer every call with its throttling
	// error (true) or serve normally again. Nil when not applicable.
	Throttle func(t *testing.T, on bool)
	// Binary is true when the backend stores arbitrary bytes.
	Binary bool
	// Ref turns a runbook-style path into the reference this backend
	// takes (identity for most).
	Ref func(path string) string
}

// Sentinel is a value that must never appear in an error message.
const Sentinel = "SENTINEL-d0n0tl0g-7f3a9c"

// Run runs every conformance case against h.
func Run(t *testing.T, h Harness) {
	ref := h.Ref
	if ref == nil {
		ref = func(p string) string { return p }
	}
	ctx := context.Background()
	fetch := func(t *testing.T, r string) (backend.Secret, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s, err := h.Backend.Fetch(ctx, r)
		if err != nil && strings.Contains(err.Error(), Sentinel) {
			t.Fatalf("error message leaks the secret value: %v", err)
		}
		return s, err
	}
	mustFetch := func(t *testing.T, r string, want []byte) backend.Secret {
		t.Helper()
		s, err := fetch(t, r)
		if err != nil {
			t.Fatalf("Fetch(%q): %v", r, err)
		}
		if !bytes.Equal(s.Data, want) {
			t.Fatalf("Fetch(%q) = %q, want %q", r, s.Data, want)
		}
		if s.Version == "" {
			t.Fatalf("Fetch(%q) returned no version", r)
		}
		return s
	}

	t.Run("plain secret", func(t *testing.T) {
		r := ref("tradepulse/exchanges/binance/api-key")
		h.Put(t, r, []byte("key-"+Sentinel))
		mustFetch(t, r, []byte("key-"+Sentinel))
	})

	t.Run("json secret", func(t *testing.T) {
		r := ref("tradepulse/postgres-tls")
		v := []byte(`{"ca":"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n","cert":"C","key":"` + Sentinel + `"}`)
		h.Put(t, r, v)
		mustFetch(t, r, v)
	})

	t.Run("binary secret", func(t *testing.T) {
		if !h.Binary {
			t.Skip("backend stores text only")
		}
		r := ref("tradepulse/binary-keystore")
		v := []byte{0x00, 0xff, 0x10, '\n', 0x80, 0x00}
		h.Put(t, r, v)
		mustFetch(t, r, v)
	})

	t.Run("new version", func(t *testing.T) {
		r := ref("tradepulse/exchanges/kraken/api-secret")
		h.Put(t, r, []byte("v1"))
		first := mustFetch(t, r, []byte("v1"))
		again := mustFetch(t, r, []byte("v1"))
		if again.Version != first.Version {
			t.Fatalf("version changed without a write: %q then %q", first.Version, again.Version)
		}
		if v, ok := h.Backend.(backend.Versioner); ok {
			got, err := v.Version(ctx, r)
			if err != nil || got != first.Version {
				t.Fatalf("Version() = %q, %v; want %q", got, err, first.Version)
			}
		}
		h.Put(t, r, []byte("v2"))
		second := mustFetch(t, r, []byte("v2"))
		if second.Version == first.Version {
			t.Fatalf("new value kept version %q", first.Version)
		}
		if v, ok := h.Backend.(backend.Versioner); ok {
			got, err := v.Version(ctx, r)
			if err != nil || got != second.Version {
				t.Fatalf("Version() after update = %q, %v; want %q", got, err, second.Version)
			}
		}
	})

	t.Run("missing secret fails closed", func(t *testing.T) {
		_, err := fetch(t, ref("tradepulse/never-created"))
		if !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("Fetch of a missing secret: %v, want ErrNotFound", err)
		}
		if !strings.Contains(err.Error(), ref("tradepulse/never-created")) {
			t.Errorf("error %q does not name the reference", err)
		}
	})

	t.Run("deleted secret fails closed and recovers", func(t *testing.T) {
		r := ref("tradepulse/exchanges/coinbase/api-key")
		h.Put(t, r, []byte("before-"+Sentinel))
		mustFetch(t, r, []byte("before-"+Sentinel))
		h.Delete(t, r)
		_, err := fetch(t, r)
		if !errors.Is(err, backend.ErrNotFound) || !backend.FailsClosed(err) {
			t.Fatalf("Fetch after delete: %v, want ErrNotFound", err)
		}
		if v, ok := h.Backend.(backend.Versioner); ok {
			if _, err := v.Version(ctx, r); !errors.Is(err, backend.ErrNotFound) {
				t.Fatalf("Version after delete: %v, want ErrNotFound", err)
			}
		}
		h.Put(t, r, []byte("after"))
		mustFetch(t, r, []byte("after"))
	})

	t.Run("access denied fails closed", func(t *testing.T) {
		if h.Deny == nil {
			t.Skip("backend has no access control")
		}
		r := ref("tradepulse/exchanges/bitstamp/api-key")
		h.Put(t, r, []byte(Sentinel))
		h.Deny(t, r, true)
		_, err := fetch(t, r)
		if !errors.Is(err, backend.ErrDenied) || !backend.FailsClosed(err) {
			t.Fatalf("Fetch while denied: %v, want ErrDenied", err)
		}
		h.Deny(t, r, false)
		mustFetch(t, r, []byte(Sentinel))
	})

	t.Run("throttling is transient", func(t *testing.T) {
		if h.Throttle == nil {
			t.Skip("backend does not throttle")
		}
		r := ref("tradepulse/mlflow")
		h.Put(t, r, []byte(`{"MLFLOW_TRACKING_URI":"http://mlflow:5000"}`))
		h.Throttle(t, true)
		_, err := fetch(t, r)
		h.Throttle(t, false)
		if err == nil || backend.FailsClosed(err) {
			t.Fatalf("Fetch while throttled: %v, want a transient error", err)
		}
		mustFetch(t, r, []byte(`{"MLFLOW_TRACKING_URI":"http://mlflow:5000"}`))
	})
}
