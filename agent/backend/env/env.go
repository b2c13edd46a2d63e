// Package env is the local-development backend: it reads secrets from
// KEY=value files (.env), the runbook's "copy .env.example to .env" step.
//
// A reference is mapped to a variable name by KeyFor, so the same pod
// annotation that names a cloud secret path works against a local .env.
// The files are read afresh on every Fetch, so an edit is seen at once;
// Watch tells the agent when to fetch again.
package env

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// DefaultFile is read when no files are configured.
const DefaultFile = ".env"

// Backend reads secrets from one or more env files.
type Backend struct {
	files []envFile
	log   *slog.Logger
	key   backend.VersionKey

	// Watch timing; tests shorten them.
	debounce time.Duration
	poll     time.Duration
	// noFSNotify makes Watch rely on polling alone (tests of the fallback).
	noFSNotify bool
	// watching, when set, is called once Watch has set up its watches, so
	// tests edit files only after that.
	watching func()
	// baseline is the files' state when the backend was made: the poll
	// compares against it, so an edit that lands between the agent's
	// first fetch and the start of Watch is still noticed.
	baseline []os.FileInfo
}

// envFile is one configured file: the name as the operator wrote it (for
// messages) and its absolute path (for reading and watching, so a later
// chdir changes nothing).
type envFile struct {
	name string
	path string
}

var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.Watcher = (*Backend)(nil)
)

// New returns a backend reading files in order, a later file overriding an
// earlier one; no files means DefaultFile. The files need not exist yet:
// Fetch reports what is missing. key keys the versions (see Fetch); nil
// means a random key of this process's own. A nil log discards.
func New(files []string, key backend.VersionKey, log *slog.Logger) (*Backend, error) {
	if len(files) == 0 {
		files = []string{DefaultFile}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{
		key:      key.OrNew(),
		log:      log,
		debounce: defaultDebounce,
		poll:     defaultPoll,
	}
	seen := map[string]bool{}
	for i, name := range files {
		if strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("env backend: files[%d] is empty", i)
		}
		abs, err := filepath.Abs(name)
		if err != nil {
			return nil, fmt.Errorf("env backend: file %s: %w", name, err)
		}
		if seen[abs] {
			return nil, fmt.Errorf("env backend: file %s is listed twice", name)
		}
		seen[abs] = true
		b.files = append(b.files, envFile{name: name, path: abs})
	}
	b.baseline = b.snapshot()
	return b, nil
}

// Fetch returns the value of the variable KeyFor(ref) from the files. A
// variable that no readable file sets wraps backend.ErrNotFound; a file
// that cannot be read or parsed, or no file at all, is a transient error.
// The version identifies the value by content, under the backend's key
// (backend.VersionKey): an unchanged value keeps its version across edits
// of other lines, and across restarts that keep the key.
func (b *Backend) Fetch(ctx context.Context, ref string) (backend.Secret, error) {
	if err := ctx.Err(); err != nil {
		return backend.Secret{}, err
	}
	key := KeyFor(ref)
	if key == "" {
		return backend.Secret{}, fmt.Errorf("secret %q: empty reference", ref)
	}
	vars, read, err := b.load()
	if err != nil {
		return backend.Secret{}, fmt.Errorf("secret %q: %w", ref, err)
	}
	value, ok := vars[key]
	if !ok {
		return backend.Secret{}, fmt.Errorf("secret %q: variable %s is not set in %s: %w",
			ref, key, strings.Join(read, ", "), backend.ErrNotFound)
	}
	return backend.Secret{Data: []byte(value), Version: b.key.ContentVersion([]byte(value))}, nil
}

// KeyFor maps a secret reference to the environment variable the backend
// reads for it, so that one pod annotation works against every backend.
//
// A reference that is already a valid variable name ([A-Za-z_][A-Za-z0-9_]*)
// is used as it is: DATABASE_URL reads DATABASE_URL. Any other reference is
// upper-cased and every character outside [A-Z0-9_] becomes "_":
//
//	tradepulse/exchanges/binance/api-key  →  TRADEPULSE_EXCHANGES_BINANCE_API_KEY
//	tradepulse/postgres-tls               →  TRADEPULSE_POSTGRES_TLS
func KeyFor(ref string) string {
	if validName(ref) {
		return ref
	}
	var sb strings.Builder
	for _, r := range ref {
		switch {
		case r >= 'a' && r <= 'z':
			sb.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	return sb.String()
}

// validName reports whether s is a POSIX environment variable name.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z'
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}
