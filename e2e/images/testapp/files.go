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
	"syscall"
)

// fileInfo is what the app tells of one file: its hash, mode and owner,
// never its content.
type fileInfo struct {
	SHA256 string `json:"sha256,omitempty"`
	Mode   string `json:"mode,omitempty"`
	UID    int    `json:"uid"`
	GID    int    `json:"gid"`
	// Error says why the file could not be read (EACCES, ENOENT).
	Error string `json:"error,omitempty"`
}

// maxDepth bounds the walk: a symlink loop ends it with an error.
const maxDepth = 16

// hashFiles returns, for every regular file under dir, its path relative to
// dir ("db/username") with the sha256 hex of its content, its mode and
// owner; a file it cannot read has Error set. Symlinks are followed, as an app reading
// the Kubernetes atomic writer's layout does (name -> ..data/name ->
// ..2024_../name); entries whose names start with ".." (..data, the
// timestamped directories, ..data_tmp) are the writer's own and skipped.
func hashFiles(dir string) (map[string]fileInfo, error) {
	out := map[string]fileInfo{}
	if err := walk(dir, "", 0, out); err != nil {
		return nil, err
	}
	return out, nil
}

func walk(dir, rel string, depth int, out map[string]fileInfo) error {
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
			out[r] = fileInfo{Error: errText(err)}
			continue
		}
		switch {
		case fi.IsDir():
			if err := walk(p, r, depth+1, out); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			info := fileInfo{Mode: fmt.Sprintf("%04o", fi.Mode().Perm())}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				info.UID, info.GID = int(st.Uid), int(st.Gid)
			}
			if info.SHA256, err = hashFile(p); err != nil {
				info.Error = errText(err)
			}
			out[r] = info
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

// fsInfo is what statfs(2) says of the file system holding a path: its
// type (tmpfs for a memory emptyDir) and size (the emptyDir's sizeLimit).
type fsInfo struct {
	Type      string `json:"type"`
	SizeBytes int64  `json:"sizeBytes"`
}

const tmpfsMagic = 0x01021994

func statFS(p string) (fsInfo, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(p, &st); err != nil {
		return fsInfo{}, err
	}
	info := fsInfo{Type: fmt.Sprintf("0x%x", st.Type), SizeBytes: int64(st.Blocks) * st.Bsize}
	if st.Type == tmpfsMagic {
		info.Type = "tmpfs"
	}
	return info, nil
}
