package agent

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradepulse/secret-injector/agent/backend"
)

func TestLoadVersionKey(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	dir := t.TempDir()
	path := filepath.Join(dir, VersionKeyFile)

	first := LoadVersionKey(dir, log)
	if len(first) != backend.VersionKeySize {
		t.Fatalf("key of %d bytes", len(first))
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o400 {
		t.Fatalf("key file: %v; want mode 0400", err)
	}
	if again := LoadVersionKey(dir, log); !bytes.Equal(again, first) {
		t.Error("a second agent on the same volume got another key")
	}
	if logs.Len() != 0 {
		t.Errorf("logged on the good path:\n%s", logs.String())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, VersionKeyFile+".tmp-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// Not a key: replaced, with a warning.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("short"), 0o400); err != nil {
		t.Fatal(err)
	}
	replaced := LoadVersionKey(dir, log)
	if len(replaced) != backend.VersionKeySize || bytes.Equal(replaced, first) {
		t.Errorf("a short key file was not replaced by a new key")
	}
	if kept, _ := os.ReadFile(path); !bytes.Equal(kept, replaced) {
		t.Error("the new key was not kept")
	}
	if !strings.Contains(logs.String(), "wrong size") {
		t.Errorf("no warning for a bad key file:\n%s", logs.String())
	}

	// Nowhere to keep it: a key of this process's own, with a warning.
	logs.Reset()
	own := LoadVersionKey(filepath.Join(dir, "absent"), log)
	if len(own) != backend.VersionKeySize {
		t.Errorf("key of %d bytes", len(own))
	}
	if !strings.Contains(logs.String(), "cannot keep the version key") {
		t.Errorf("no warning when the key cannot be kept:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), string(own)) {
		t.Error("the key reached the log")
	}
}
