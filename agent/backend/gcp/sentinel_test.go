package gcp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
	"github.com/tradepulse/secret-injector/agent/backend/gcp"
	"github.com/tradepulse/secret-injector/agent/backend/gcp/gcptest"
)

const sentinel = backendtest.Sentinel

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// leaks reports whether text holds the sentinel, raw or as the base64 a
// protobuf JSON dump of the payload would show.
func leaks(text string) bool {
	return strings.Contains(text, sentinel) ||
		strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(sentinel))[:16])
}

// TestSentinelNeverLogged feeds a sentinel value through every path, the
// error paths included, with debug logging on.
// A regional secret goes through the same paths on its own endpoint.
func TestSentinelNeverLogged(t *testing.T) {
	t.Run("global", func(t *testing.T) {
		srv := newServer(t)
		var logs bytes.Buffer
		b := newBackend(t, srv, newLogger(&logs))
		ref := "tradepulse/exchanges/binance/api-key"
		sentinelPaths(t, srv, b, &logs, ref, secretName(t, ref))
	})
	t.Run("regional", func(t *testing.T) {
		eu := newRegionalServer(t, "europe-west4")
		var logs bytes.Buffer
		b := newRegionalBackend(t, newServer(t), newLogger(&logs), eu)
		ref := "projects/" + project + "/locations/europe-west4/secrets/tradepulse--exchanges--binance--api-key"
		sentinelPaths(t, eu, b, &logs, ref, ref)
	})
}

func sentinelPaths(t *testing.T, srv *gcptest.Server, b *gcp.Backend, logs *bytes.Buffer, ref, name string) {
	ctx := context.Background()
	srv.Put(name, []byte(sentinel))

	var errs []error
	call := func(setup, undo func()) {
		setup()
		_, err := b.Fetch(ctx, ref)
		errs = append(errs, err)
		_, err = b.Version(ctx, ref)
		errs = append(errs, err)
		undo()
	}
	nop := func() {}
	call(nop, nop)
	call(func() { srv.CorruptChecksums(true) }, func() { srv.CorruptChecksums(false) })
	call(func() { srv.Deny(name, true) }, func() { srv.Deny(name, false) })
	call(func() { srv.Throttle(true) }, func() { srv.Throttle(false) })
	call(func() { srv.DenyMetadata(name, true) }, func() { srv.DenyMetadata(name, false) })
	call(func() { srv.Put(name, []byte("x")) }, nop)
	call(func() { srv.Delete(name) }, nop)

	for _, err := range errs {
		if err != nil && leaks(err.Error()) {
			t.Errorf("error leaks the value: %v", err)
		}
	}
	if leaks(logs.String()) {
		t.Errorf("logs leak the value:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "secret fetched") {
		t.Errorf("debug logs are missing, so this test proves nothing:\n%s", logs.String())
	}
}

// The SDK logs whole responses, payloads included, when
// GOOGLE_SDK_GO_LOGGING_LEVEL=debug; the backend must silence it.
func TestSDKDebugLoggingCannotLeak(t *testing.T) {
	t.Setenv("GOOGLE_SDK_GO_LOGGING_LEVEL", "debug")
	srv := newServer(t)
	ref := "tradepulse/wandb"
	srv.Put(secretName(t, ref), []byte(sentinel))

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	captured := make(chan string)
	go func() {
		data, _ := io.ReadAll(r)
		captured <- string(data)
	}()
	func() {
		defer func() { os.Stderr = stderr }()
		b, err := gcp.New(context.Background(), gcp.Options{Project: project, ClientOptions: srv.ClientOptions()}, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer b.Close()
		if _, err := b.Fetch(context.Background(), ref); err != nil {
			t.Error(err)
		}
	}()
	w.Close()
	if out := <-captured; leaks(out) {
		t.Errorf("SDK logging leaks the value:\n%s", out)
	}
}
