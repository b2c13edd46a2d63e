package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// VersionKeyFile holds the pod's backend.VersionKey, beside StateFile in
// the volume, where the values it protects already are: mode 0400, owned
// by the agent. The init container creates it and the sidecar reads it,
// so both derive the same versions from the same values.
const VersionKeyFile = ".agent-version-key"

// LoadVersionKey returns the version key kept in dir, creating it when it
// is missing or not a key. A new key makes every content version new: the
// versions in the state file no longer match, and the first refresh of
// each such secret fetches it and compares what it renders (unchanged
// files are not rewritten). It never fails: when dir cannot hold a key,
// the key is this process's own, with a warning.
func LoadVersionKey(dir string, log *slog.Logger) backend.VersionKey {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := filepath.Join(dir, VersionKeyFile)
	key, err := os.ReadFile(path)
	switch {
	case err == nil && len(key) == backend.VersionKeySize:
		return key
	case err == nil:
		log.Warn("version key has the wrong size; creating a new one (versions start afresh)", "file", VersionKeyFile)
	case !errors.Is(err, fs.ErrNotExist):
		log.Warn("version key unreadable; creating a new one (versions start afresh)", "file", VersionKeyFile, "err", err)
	}
	key = backend.NewVersionKey()
	if err := writeKey(dir, key); err != nil {
		log.Warn("cannot keep the version key in the volume; versions will not match another agent's", "file", VersionKeyFile, "err", err)
	}
	return key
}

// writeKey puts key into dir/VersionKeyFile in one rename, so that a
// reader sees no key or the whole key.
func writeKey(dir string, key []byte) (err error) {
	fh, err := os.CreateTemp(dir, VersionKeyFile+".tmp-*")
	if err != nil {
		return err
	}
	tmp := fh.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := fh.Write(key); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Chmod(0o400); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, VersionKeyFile)); err != nil {
		return fmt.Errorf("version key: %w", err)
	}
	return nil
}
