package sink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradepulse/secret-injector/agent/config"
)

// FuzzWritePath: whatever the path, Write either rejects it and writes
// nothing, or writes strictly inside the volume.
func FuzzWritePath(f *testing.F) {
	for _, seed := range []string{
		"api-key", "postgres-tls/tls.crt", "../x", "/etc/passwd", "a/../../b",
		"..data", "..2020", "a/..", ".", "a//b", "a/", "..data/x", "...", ".a/.b",
		strings.Repeat("a/", 200) + "b", "a\x00b", "\\..\\x", "a/./b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		parent := tempDir(t)
		dir := filepath.Join(parent, "vol")
		w, err := New(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.Write([]File{{Path: p, Data: []byte("fuzz"), Mode: 0o400, UID: -1, GID: -1}})
		if err != nil {
			if got := listing(t, parent); len(got) != 2 {
				t.Fatalf("rejected path %q left %v", p, got)
			}
			return
		}
		if err := config.ValidatePath(p); err != nil {
			t.Fatalf("accepted %q which config.ValidatePath rejects: %v", p, err)
		}
		realDir, err := filepath.EvalSymlinks(dir)
		if err != nil {
			t.Fatal(err)
		}
		inside := func(what, target string) {
			rel, err := filepath.Rel(realDir, target)
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("path %q: %s resolves to %s, outside the volume", p, what, target)
			}
		}
		resolved, err := filepath.EvalSymlinks(filepath.Join(dir, p))
		if err != nil {
			t.Fatalf("path %q accepted but not readable: %v", p, err)
		}
		inside("the file", resolved)
		if data, err := os.ReadFile(resolved); err != nil || string(data) != "fuzz" {
			t.Fatalf("path %q reads %q, %v", p, data, err)
		}
		for _, line := range listing(t, parent) {
			name, _, _ := strings.Cut(line, " ")
			if name != parent {
				inside("an entry", name)
			}
			if strings.Contains(line, " -> ") {
				r, err := filepath.EvalSymlinks(name)
				if err != nil {
					t.Fatalf("path %q: dangling link %s", p, line)
				}
				inside("a link", r)
			}
		}
	})
}
