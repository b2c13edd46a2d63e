package sink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The value must never reach a log line or an error, on any path.
func TestNoValueInLogsOrErrors(t *testing.T) {
	const sentinel = "SENTINEL-7f3a9c-do-not-log"
	val := func(p string) File { return file(p, sentinel, 0o400) }
	w, logs := newTestWriter(t)
	var errs []error
	try := func(files ...File) {
		if _, err := w.Write(files); err != nil {
			errs = append(errs, err)
		}
	}

	try(val("api-key"), val("tls/tls.key"))               // written
	try(val("api-key"), val("tls/tls.key"))               // unchanged
	try(val("../escape"), val("api-key"), val("api-key")) // rejected
	try(File{Path: "api-key", Data: []byte(sentinel), Mode: 0o7777, UID: -9, GID: -1})
	if err := os.MkdirAll(filepath.Join(w.Dir(), "blocked", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	try(val("blocked"), val("api-key")) // link fails after the swap
	if err := os.RemoveAll(w.Dir()); err != nil {
		t.Fatal(err)
	}
	try(val("api-key")) // the volume is gone
	if len(errs) < 4 {
		t.Fatalf("only %d of the error paths failed: %v", len(errs), errs)
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), sentinel) {
			t.Errorf("error carries the value: %v", err)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("no log output to check")
	}
	if strings.Contains(logs.String(), sentinel) {
		t.Errorf("log carries the value:\n%s", logs)
	}
}
