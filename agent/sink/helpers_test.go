package sink

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// seen is what the app sees at one visible path.
type seen struct {
	Data string
	Mode os.FileMode
}

// newTestWriter returns a Writer on a fresh volume and the buffer its debug
// log goes to.
func newTestWriter(t *testing.T) (*Writer, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	w, err := New(filepath.Join(tempDir(t), "vol"), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return w, &logs
}

// farApart gives w a clock that moves on by RetireGrace at every reading,
// as if each write came long after the one before: pruning then keeps
// only the current generation and the one it replaced.
func farApart(w *Writer) {
	t := time.Now()
	w.now = func() time.Time {
		t = t.Add(RetireGrace)
		return t
	}
}

// tempDir is a fresh directory on tmpfs when the machine has one: the
// volume is memory-backed in a pod, and on a disk the fsyncs dominate.
func tempDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "sink-test-"); err == nil {
			t.Cleanup(func() {
				if err := os.RemoveAll(dir); err != nil {
					t.Error(err)
				}
			})
			return dir
		}
	}
	return t.TempDir()
}

func mustWrite(t *testing.T, w *Writer, files ...File) bool {
	t.Helper()
	changed, err := w.Write(files)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return changed
}

func file(path, data string, mode os.FileMode) File {
	return File{Path: path, Data: []byte(data), Mode: mode, UID: -1, GID: -1}
}

// visible reads the volume the way the app does: through the visible
// names, following links, skipping the writer's own entries.
func visible(t *testing.T, dir string) map[string]seen {
	t.Helper()
	out := map[string]seen{}
	var walk func(rel string)
	walk = func(rel string) {
		full := filepath.Join(dir, rel)
		fi, err := os.Stat(full)
		if err != nil {
			t.Fatalf("stat %s: %v", rel, err)
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(full)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.ToSlash(rel)] = seen{Data: string(data), Mode: fi.Mode().Perm()}
			return
		}
		entries, err := os.ReadDir(full)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if rel == "" && strings.HasPrefix(e.Name(), "..") {
				continue
			}
			walk(filepath.Join(rel, e.Name()))
		}
	}
	walk("")
	return out
}

// entries lists the volume directory's own names, with the timestamped
// directories collapsed to "..<ts>".
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range des {
		name := e.Name()
		if strings.HasPrefix(name, "..") && name != dataLink && e.IsDir() {
			name = "..<ts>"
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// listing records every name under dir, recursively, with its type and
// link target: two equal listings mean nothing was touched.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		line := p + " " + d.Type().String()
		if d.Type()&fs.ModeSymlink != 0 {
			dest, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + dest
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dataTarget(t *testing.T, dir string) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(dir, dataLink))
	if err != nil {
		t.Fatal(err)
	}
	return target
}
