package sink

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// errMismatch stops a walk at the first difference.
var errMismatch = errors.New("volume differs from payload")

// matches reports whether the volume already shows exactly p: ..data points
// at a directory holding p's files with p's bytes, modes and owners and
// nothing else, and the visible links are exactly p's top-level entries.
// Anything it cannot read counts as a difference: the rewrite that follows
// either repairs it or reports the real error.
func (w *Writer) matches(p *payload) (target string, ok bool) {
	target, err := os.Readlink(filepath.Join(w.dir, dataLink))
	if err != nil || !ownName(target) {
		return "", false
	}
	if err := w.treeMatches(p, target); err != nil {
		if !errors.Is(err, errMismatch) {
			w.log.Debug("current payload unreadable, rewriting", "dir", w.dir, "error", err)
		}
		return "", false
	}
	return target, w.linksMatch(p)
}

// treeMatches walks the current data directory against p.
func (w *Writer) treeMatches(p *payload, target string) error {
	root := filepath.Join(w.dir, target)
	rootInfo, err := os.Lstat(root)
	if err != nil {
		return err
	}
	if !rootInfo.IsDir() {
		return errMismatch
	}
	// A file created with UID/GID -1 gets the agent's uid and, in a setgid
	// directory (a pod's fsGroup), the directory's group.
	defUID, defGID := os.Geteuid(), os.Getegid()
	if rootInfo.Mode()&os.ModeSetgid != 0 {
		_, defGID = owner(rootInfo)
	}
	seen := 0
	err = filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, full)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			if !p.dirs[rel] || info.Mode().Perm() != 0o755 {
				return errMismatch
			}
			return nil
		}
		f, ok := p.files[rel]
		if !ok || !info.Mode().IsRegular() || info.Mode().Perm() != f.Mode || info.Size() != int64(len(f.Data)) {
			return errMismatch
		}
		uid, gid := owner(info)
		if uid != pick(f.UID, defUID) || gid != pick(f.GID, defGID) {
			return errMismatch
		}
		data, err := os.ReadFile(full)
		if errors.Is(err, fs.ErrPermission) && w.last != nil && w.last.target == target {
			// Given away and unreadable to us, but written by us into this
			// very directory: what we wrote is what it holds.
			data, err = w.last.files[rel].Data, nil
		}
		if err != nil {
			return err
		}
		if !bytes.Equal(data, f.Data) {
			return errMismatch
		}
		seen++
		return nil
	})
	if err != nil {
		return err
	}
	if seen != len(p.files) {
		return errMismatch
	}
	return nil
}

// linksMatch reports whether the visible entries that are ours are exactly
// p's top-level entries, each pointing into ..data.
func (w *Writer) linksMatch(p *payload) bool {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return false
	}
	found := 0
	for _, e := range entries {
		name := e.Name()
		if ownName(name) || e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		dest, err := os.Readlink(filepath.Join(w.dir, name))
		if err != nil || dest != linkDest(name) {
			if p.tops[name] {
				return false
			}
			continue
		}
		if !p.tops[name] {
			return false
		}
		found++
	}
	return found == len(p.tops)
}

// prune removes the writer's own entries other than ..data, the
// generations in keep (the current one and the one it replaced) and those
// this Writer replaced less than grace ago: older timestamped directories
// and temporary links a crash left behind. The app never sees them, so
// failures are logged, not returned.
func (w *Writer) prune(keep ...string) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		w.log.Warn("cannot list volume for cleanup", "dir", w.dir, "error", err)
		return
	}
	now := w.now()
	for _, e := range entries {
		name := e.Name()
		if !ownName(name) || name == dataLink || slices.Contains(keep, name) {
			continue
		}
		if at, ok := w.retired[name]; ok && now.Sub(at) < w.grace {
			continue
		}
		delete(w.retired, name)
		if err := os.RemoveAll(filepath.Join(w.dir, name)); err != nil {
			w.log.Warn("cannot remove stale entry", "dir", w.dir, "entry", name, "error", err)
			continue
		}
		w.log.Debug("removed stale entry", "dir", w.dir, "entry", name)
	}
}

// ownName reports whether a name in the volume directory is the writer's.
func ownName(name string) bool {
	return strings.HasPrefix(name, "..") && !strings.Contains(name, "/")
}

// linkDest is where the visible entry top points.
func linkDest(top string) string { return dataLink + "/" + top }

func owner(fi fs.FileInfo) (uid, gid int) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, -1
	}
	return int(st.Uid), int(st.Gid)
}

func pick(want, def int) int {
	if want >= 0 {
		return want
	}
	return def
}
