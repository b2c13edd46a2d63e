package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxDepth bounds the walk: a symlink loop ends it with an error.
const maxDepth = 16

// hashFiles returns, for every regular file under dir, its path relative to
// dir ("db/username") and the sha256 hex of its content; a file it cannot
// read maps to "error: " and why. Symlinks are followed, as an app reading
// the Kubernetes atomic writer's layout does (name -> ..data/name ->
// ..2024_../name); entries whose names start with ".." (..data, the
// timestamped directories, ..data_tmp) are the writer's own and skipped.
func hashFiles(dir string) (map[string]string, error) {
	out := map[string]string{}
	if err := walk(dir, "", 0, out); err != nil {
		return nil, err
	}
	return out, nil
}

func walk(dir, rel string, depth int, out map[string]string) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: more than %d levels deep (a symlink loop?)", rel, maxDepth)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		p, r := filepath.Join(dir, e.Name()), path.Join(rel, e.Name())
		fi, err := os.Stat(p) // follows symlinks
		if err != nil {
			out[r] = "error: " + errText(err)
			continue
		}
		switch {
		case fi.IsDir():
			if err := walk(p, r, depth+1, out); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			sum, err := hashFile(p)
			if err != nil {
				out[r] = "error: " + errText(err)
				continue
			}
			out[r] = sum
		}
	}
	return nil
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
