package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/injector"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func mustWrite(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustLink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// The Kubernetes atomic writer's layout: names are symlinks into ..data,
// itself a symlink to a timestamped directory; /files follows them, skips
// the writer's own entries and never returns a content.
func TestHashFilesAtomicWriterLayout(t *testing.T) {
	dir := t.TempDir()
	ts := "..2026_01_02_03_04_05.123"
	mustWrite(t, filepath.Join(dir, ts, "api-key"), "s3cr3t")
	mustWrite(t, filepath.Join(dir, ts, "db", "username"), "v-user")
	mustWrite(t, filepath.Join(dir, ts, "db", "password"), "v-pass")
	mustWrite(t, filepath.Join(dir, ts, ".env"), "A=1\n")
	mustLink(t, ts, filepath.Join(dir, "..data"))
	mustLink(t, "..data/api-key", filepath.Join(dir, "api-key"))
	mustLink(t, "..data/db", filepath.Join(dir, "db"))
	mustLink(t, "..data/.env", filepath.Join(dir, ".env"))
	mustLink(t, "..data/gone", filepath.Join(dir, "dangling"))

	got, err := hashFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	want := map[string]fileInfo{
		"api-key":     {SHA256: sum("s3cr3t"), Mode: "0600", UID: uid, GID: gid},
		"db/username": {SHA256: sum("v-user"), Mode: "0600", UID: uid, GID: gid},
		"db/password": {SHA256: sum("v-pass"), Mode: "0600", UID: uid, GID: gid},
		".env":        {SHA256: sum("A=1\n"), Mode: "0600", UID: uid, GID: gid},
		"dangling":    {Error: "ENOENT (no such file or directory)"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hashFiles (-want +got):\n%s", diff)
	}

	srv := httptest.NewServer(newHandler(options{dir: dir}, &sighupCounter{}, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	body := get(t, srv.URL+"/files")
	for _, secret := range []string{"s3cr3t", "v-user", "v-pass"} {
		if strings.Contains(body, secret) {
			t.Errorf("/files returns the content %q:\n%s", secret, body)
		}
	}
	if !strings.Contains(body, sum("v-user")) {
		t.Errorf("/files lacks db/username's hash:\n%s", body)
	}
}

func TestHashFilesSymlinkLoop(t *testing.T) {
	dir := t.TempDir()
	mustLink(t, ".", filepath.Join(dir, "loop"))
	if _, err := hashFiles(dir); err == nil || !strings.Contains(err.Error(), "deep") {
		t.Errorf("err = %v, want a depth error", err)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// SIGHUPs are counted once the handler is installed, after the delay.
func TestSighupCounter(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &sighupCounter{}
	c.start(ctx, 50*time.Millisecond, slog.New(slog.DiscardHandler))
	if c.installed.Load() {
		t.Fatal("handler installed before the delay")
	}
	waitFor(t, "handler installed", c.installed.Load)
	for i := 0; i < 3; i++ {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		want := int64(i + 1)
		waitFor(t, "sighup counted", func() bool { return c.count() == want })
	}

	srv := httptest.NewServer(newHandler(options{}, c, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	if body := get(t, srv.URL+"/sighups"); !strings.Contains(body, `"sighups": 3`) || !strings.Contains(body, `"handler_installed": true`) {
		t.Errorf("/sighups = %s", body)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReadCreds(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "db"), `{"password":"p","username":"u"}`)
	mustWrite(t, filepath.Join(dir, "bad"), `not json s3cr3t`)
	c, err := readCreds(dir, "db")
	if err != nil || c != (dbCreds{Username: "u", Password: "p"}) {
		t.Errorf("readCreds = %+v, %v", c, err)
	}
	if _, err := readCreds(dir, "bad"); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("bad JSON: err = %v (must not quote the file)", err)
	}
	for _, name := range []string{"", "../etc/passwd", "/etc/passwd"} {
		if _, err := readCreds(dir, name); statusOf(err) != http.StatusBadRequest {
			t.Errorf("readCreds(%q): %v, want a bad request", name, err)
		}
	}
}

func TestReadAgentTokens(t *testing.T) {
	if agentTokenPath != injector.TokenPath {
		t.Errorf("agentTokenPath %s, the injector mounts the token at %s", agentTokenPath, injector.TokenPath)
	}
	proc := t.TempDir()
	mustWrite(t, filepath.Join(proc, "12", "comm"), "secret-injector\n")
	mustWrite(t, filepath.Join(proc, "12", "root", agentTokenPath), "token-value")
	mustWrite(t, filepath.Join(proc, "34", "comm"), "secret-injector\n") // no token: ENOENT
	mustWrite(t, filepath.Join(proc, "56", "comm"), "testapp\n")
	mustWrite(t, filepath.Join(proc, "self", "comm"), "secret-injector\n")
	got, err := readAgentTokens(proc)
	if err != nil {
		t.Fatal(err)
	}
	want := []tokenRead{
		{PID: 12, Readable: true},
		{PID: 34, Errno: "ENOENT", Error: "no such file or directory"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("readAgentTokens (-want +got):\n%s", diff)
	}
}

// /env?sha256=NAME gives the sha256 of a variable's value, for env mode's
// check, and never the value.
func TestEnvHashes(t *testing.T) {
	t.Setenv("TESTAPP_ENV_SECRET", "env-s3cr3t")
	srv := httptest.NewServer(newHandler(options{}, &sighupCounter{}, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	body := get(t, srv.URL+"/env?sha256=TESTAPP_ENV_SECRET,TESTAPP_UNSET")
	if strings.Contains(body, "env-s3cr3t") {
		t.Fatalf("/env shows a value: %s", body)
	}
	var got struct {
		SHA256 map[string]string `json:"sha256"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"TESTAPP_ENV_SECRET": sum("env-s3cr3t")}, got.SHA256); diff != "" {
		t.Errorf("/env sha256 (-want +got):\n%s", diff)
	}
}
