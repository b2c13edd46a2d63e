// Package sink writes a payload of secret files into the shared volume
// atomically: the app sees either the whole previous payload or the whole
// new one, never a mix and never a partial file.
//
// The layout follows the idea of Kubernetes' atomic writer:
//
//	<dir>/..2026_01_02_15_04_05.123456   the payload's real files
//	<dir>/..data -> ..2026_01_02_15_04_05.123456
//	<dir>/api-key -> ..data/api-key
//	<dir>/postgres-tls -> ..data/postgres-tls
//
// A write fills a fresh timestamped directory and points ..data at it with
// a single rename, so every open(2) through a visible path resolves wholly
// in the old or wholly in the new directory. A reader that resolved ..data
// just before a swap must still find its file, so a replaced generation is
// removed only once a later swap has replaced its successor too and
// RetireGrace has passed since it was replaced. Names starting with ".."
// are the writer's own. One Writer per directory at a
// time: its mutex serialises calls within a process, nothing guards
// against two processes.
package sink

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Reserved names in the volume directory.
const (
	dataLink    = "..data"
	dataTmpLink = "..data_tmp"
	linkTmp     = "..link_tmp"
)

// File is one file of the payload.
type File struct {
	// Path is relative to the volume, slash-separated, e.g. "api-key" or
	// "postgres-tls/tls.crt"; it must pass config.ValidatePath.
	Path string
	// Data is the file's content. Never logged.
	Data []byte
	// Mode is the exact permission bits, e.g. 0o400; the umask never
	// applies.
	Mode os.FileMode
	// UID and GID own the file; -1 keeps the agent's own.
	UID, GID int
}

// RetireGrace is how long a generation outlives the swap that replaced
// it, at the least. A reader that resolved ..data to it just before the
// swap must still find its file: open(2) resolves the path in steps, and on
// a loaded node a reader can be preempted between them while several swaps
// go by. The generation a swap replaced is also kept until the next swap,
// however old.
const RetireGrace = 2 * time.Second

// Writer keeps one volume directory showing exactly the last payload.
type Writer struct {
	dir string
	log *slog.Logger

	mu sync.Mutex
	// last is what this Writer last swapped in. The on-disk tree is the
	// truth; last only stands in for the bytes of a file the agent gave
	// away and may no longer read (chown without CAP_DAC_OVERRIDE).
	last *written
	// retired holds when each generation this Writer replaced was
	// replaced; prune keeps it for grace after that. Generations it does
	// not know (a crashed write, an earlier process) are removed at once.
	retired map[string]time.Time
	grace   time.Duration
	now     func() time.Time
}

type written struct {
	target string
	// prev is the generation target replaced, kept until the next swap.
	prev  string
	files map[string]File
}

// New returns a Writer for dir, creating it with mode 0755 when missing.
// A nil log discards.
func New(dir string, log *slog.Logger) (*Writer, error) {
	if dir == "" {
		return nil, errors.New("sink: directory must not be empty")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir = filepath.Clean(dir)
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sink: %w", err)
		}
		// MkdirAll is subject to the umask; the app must traverse dir.
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sink: %w", err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("sink: %s is not a directory", dir)
	}
	return &Writer{dir: dir, log: log, retired: map[string]time.Time{}, grace: RetireGrace, now: time.Now}, nil
}

// Dir returns the volume directory.
func (w *Writer) Dir() string { return w.dir }

// Write makes the volume hold exactly files, the whole payload: files not
// in it disappear (that is how a secret is removed, failing closed), and an
// empty payload is legal. When the volume already shows this payload
// (paths, bytes, modes, owners, read back from disk, so a restarted agent
// agrees) it returns changed=false and leaves the content alone. Invalid
// paths fail the whole call before anything is written. changed is true
// once the new content is visible, even if a later cleanup step failed.
func (w *Writer) Write(files []File) (changed bool, err error) {
	p, err := newPayload(files)
	if err != nil {
		return false, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()

	if target, ok := w.matches(p); ok {
		// Leftovers of a crashed write are invisible to the app; dropping
		// them frees the memory-backed volume. The generation this Writer's
		// last swap replaced stays until the next swap.
		keep := []string{target}
		if w.last != nil && w.last.target == target && w.last.prev != "" {
			keep = append(keep, w.last.prev)
		}
		w.prune(keep...)
		w.log.Debug("payload unchanged", "dir", w.dir, "files", len(p.paths))
		return false, nil
	}
	target, prev, swapped, err := w.write(p)
	if swapped {
		w.last = &written{target: target, prev: prev, files: p.clone()}
	}
	if err != nil {
		return swapped, err
	}
	w.log.Info("payload written", "dir", w.dir, "files", len(p.paths), "version", target)
	return true, nil
}

// clone copies the payload's files so that a caller reusing its buffers
// cannot change what last remembers.
func (p *payload) clone() map[string]File {
	out := make(map[string]File, len(p.files))
	for k, f := range p.files {
		f.Data = bytes.Clone(f.Data)
		out[k] = f
	}
	return out
}
