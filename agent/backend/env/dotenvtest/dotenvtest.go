// Package dotenvtest writes .env files the way an operator would, for tests
// and e2e of the env backend: it is that backend's stand-in for a secret
// server. Every write replaces the file by rename, as editors do.
package dotenvtest

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// File is a .env file owned by a test: Put and Delete rewrite it whole.
type File struct {
	// Path is where the file is written.
	Path string

	mu   sync.Mutex
	vars map[string]string
}

// NewFile returns a File at path. Nothing is written until the first Put or
// Delete, so a test can also exercise a missing file.
func NewFile(path string) *File {
	return &File{Path: path, vars: map[string]string{}}
}

// Put sets key to value and rewrites the file.
func (f *File) Put(key, value string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if _, err := Quote(value); err != nil {
		return fmt.Errorf("dotenvtest: %s: %w", key, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vars[key] = value
	return f.write()
}

// Delete removes key and rewrites the file.
func (f *File) Delete(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.vars, key)
	return f.write()
}

// write renders the variables sorted by key and renames the result over
// Path.
func (f *File) write() error {
	var sb strings.Builder
	sb.WriteString("# written by dotenvtest\n")
	for _, k := range slices.Sorted(maps.Keys(f.vars)) {
		q, _ := Quote(f.vars[k]) // checked by Put
		fmt.Fprintf(&sb, "%s=%s\n", k, q)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".envtest-*")
	if err != nil {
		return fmt.Errorf("dotenvtest: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(sb.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("dotenvtest: write %s: %w", f.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("dotenvtest: write %s: %w", f.Path, err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("dotenvtest: %w", err)
	}
	return nil
}

// Quote renders value so that godotenv reads it back byte for byte. It
// prefers single quotes, which godotenv takes literally (multi-line values,
// JSON with '"' and '\' inside); a value holding "'" or "\r\n" is
// double-quoted with escapes instead. godotenv cannot read back a value that
// ends in '\', nor one that needs double quotes and ends in '"'.
func Quote(value string) (string, error) {
	if !utf8.ValidString(value) {
		return "", errors.New("value is not valid UTF-8")
	}
	// godotenv ends a quoted value at the first quote not preceded by '\'.
	if strings.HasSuffix(value, `\`) {
		return "", errors.New(`godotenv cannot read back a value ending in '\'`)
	}
	if !strings.Contains(value, "'") && !strings.Contains(value, "\r\n") {
		return "'" + value + "'", nil
	}
	// godotenv strips every '"' at either end of a double-quoted value,
	// escaped or not.
	if strings.HasSuffix(value, `"`) {
		return "", errors.New(`godotenv cannot read back a value holding "'" and ending in '"'`)
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "\n", `\n`, "\r", `\r`)
	return `"` + r.Replace(value) + `"`, nil
}

func checkKey(key string) error {
	if key == "" {
		return errors.New("dotenvtest: empty key")
	}
	for _, r := range key {
		if !(r == '_' || r == '.' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("dotenvtest: key %q may hold only A-Z, a-z, 0-9, '_' and '.'", key)
		}
	}
	return nil
}
