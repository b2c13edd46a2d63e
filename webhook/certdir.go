package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tradepulse/secret-injector/webhook/certs"
)

// dataLink is the symlink in the cert directory pointing at the current
// generation, the layout the kubelet uses for Secret volumes.
const dataLink = "..data"

// writeCertDir publishes the serving pair (and the CA bundle) in dir so that
// a certificate watcher never sees a new certificate next to an old key:
// the files go into a fresh hidden directory, and one rename of the ..data
// symlink switches all of them. tls.crt, tls.key and ca.crt are symlinks
// through ..data. It reports whether anything changed.
func writeCertDir(dir string, b certs.Bundle) (bool, error) {
	files := map[string][]byte{certs.KeyCert: b.Cert, certs.KeyKey: b.Key, certs.KeyCACert: b.CACerts}
	if sameFiles(dir, files) {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("cert dir %s: %w", dir, err)
	}
	gen, err := os.MkdirTemp(dir, "..tls-")
	if err != nil {
		return false, fmt.Errorf("cert dir %s: %w", dir, err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(gen, name), data, 0o600); err != nil {
			return false, errors.Join(fmt.Errorf("cert dir %s: write %s: %w", dir, name, err), os.RemoveAll(gen))
		}
	}
	if err := replaceSymlink(dir, dataLink, filepath.Base(gen)); err != nil {
		return false, errors.Join(err, os.RemoveAll(gen))
	}
	for name := range files {
		target := filepath.Join(dataLink, name)
		if cur, err := os.Readlink(filepath.Join(dir, name)); err == nil && cur == target {
			continue
		}
		if err := replaceSymlink(dir, name, target); err != nil {
			return false, err
		}
	}
	return true, pruneGenerations(dir, filepath.Base(gen))
}

func sameFiles(dir string, files map[string][]byte) bool {
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			return false
		}
	}
	return true
}

// replaceSymlink points dir/name at target atomically (rename over it).
func replaceSymlink(dir, name, target string) error {
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cert dir %s: %w", dir, err)
	}
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("cert dir %s: link %s: %w", dir, name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("cert dir %s: switch %s: %w", dir, name, err)
	}
	return nil
}

// pruneGenerations removes every generation but keep. The watcher sees the
// old files go and reloads through the links.
func pruneGenerations(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cert dir %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "..tls-") && e.Name() != keep {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}
