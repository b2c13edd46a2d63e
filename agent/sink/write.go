package sink

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// write puts p into a fresh timestamped directory, swaps ..data to it,
// fixes the visible links and prunes the generations before the one it
// replaced once their grace is over. swapped reports whether the new
// content became visible; prev is the generation ..data pointed at before
// ("" if none).
func (w *Writer) write(p *payload) (target, prev string, swapped bool, err error) {
	tsDir, err := os.MkdirTemp(w.dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return "", "", false, fmt.Errorf("sink: create data directory: %w", err)
	}
	target = filepath.Base(tsDir)
	defer func() {
		if !swapped {
			_ = os.RemoveAll(tsDir)
		}
	}()
	if err := chmodDir(tsDir); err != nil {
		return "", "", false, fmt.Errorf("sink: %w", err)
	}
	for _, fp := range p.paths {
		if err := writeFile(tsDir, p.files[fp]); err != nil {
			return "", "", false, err
		}
	}
	if err := syncDir(tsDir); err != nil {
		return "", "", false, fmt.Errorf("sink: %w", err)
	}

	// The generation being replaced: a reader may have resolved ..data to
	// it just before the swap and not yet opened its file, so it stays
	// until the next swap.
	if cur, err := os.Readlink(filepath.Join(w.dir, dataLink)); err == nil && ownName(cur) && cur != dataLink {
		prev = cur
	}

	// The swap: a new symlink renamed over ..data replaces it atomically.
	if err := swapLink(target, filepath.Join(w.dir, dataTmpLink), filepath.Join(w.dir, dataLink)); err != nil {
		return "", "", false, fmt.Errorf("sink: swap %s: %w", dataLink, err)
	}
	swapped = true
	if prev != "" {
		w.retired[prev] = w.now()
	}

	var errs []error
	for _, top := range slices.Sorted(maps.Keys(p.tops)) {
		if err := w.link(top); err != nil {
			errs = append(errs, err)
		}
	}
	if err := w.unlinkStale(p); err != nil {
		errs = append(errs, err)
	}
	w.prune(target, prev)
	if err := syncDir(w.dir); err != nil {
		errs = append(errs, fmt.Errorf("sink: %w", err))
	}
	return target, prev, true, errors.Join(errs...)
}

// writeFile creates one file of the payload under root.
func writeFile(root string, f File) (err error) {
	if d := path.Dir(f.Path); d != "." {
		if err := makeDirs(root, d); err != nil {
			return fmt.Errorf("sink: directory for %s: %w", f.Path, err)
		}
	}
	full := filepath.Join(root, filepath.FromSlash(f.Path))
	fh, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sink: write %s: %w", f.Path, err)
	}
	defer func() {
		if cerr := fh.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("sink: write %s: %w", f.Path, cerr)
		}
	}()
	if _, err := fh.Write(f.Data); err != nil {
		return fmt.Errorf("sink: write %s: %w", f.Path, err)
	}
	if err := fh.Sync(); err != nil {
		return fmt.Errorf("sink: sync %s: %w", f.Path, err)
	}
	// Explicit: the mode given to open(2) is filtered by the umask.
	if err := fh.Chmod(f.Mode); err != nil {
		return fmt.Errorf("sink: chmod %s: %w", f.Path, err)
	}
	if f.UID >= 0 || f.GID >= 0 {
		if err := fh.Chown(f.UID, f.GID); err != nil {
			return fmt.Errorf("sink: chown %s: %w", f.Path, err)
		}
	}
	return nil
}

// makeDirs creates each missing element of rel under root with mode 0755:
// the app must traverse them, the files' own modes protect the content.
func makeDirs(root, rel string) error {
	cur := root
	for _, el := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, el)
		err := os.Mkdir(cur, 0o700)
		if errors.Is(err, fs.ErrExist) {
			continue // made for an earlier file
		}
		if err != nil {
			return err
		}
		if err := chmodDir(cur); err != nil {
			return err
		}
	}
	return nil
}

// chmodDir sets 0755 regardless of the umask, keeping the setgid bit the
// kernel gives directories inside a setgid volume (a pod's fsGroup), so
// that every file inherits the volume's group.
func chmodDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	return os.Chmod(dir, 0o755|fi.Mode()&os.ModeSetgid)
}

// link makes the visible entry top a symlink into ..data, replacing
// whatever file or link holds the name by rename so that it never goes
// missing. A directory in the way is not ours and fails the call.
func (w *Writer) link(top string) error {
	visible := filepath.Join(w.dir, top)
	if dest, err := os.Readlink(visible); err == nil && dest == linkDest(top) {
		return nil
	}
	if err := swapLink(linkDest(top), filepath.Join(w.dir, linkTmp), visible); err != nil {
		return fmt.Errorf("sink: link %s: %w", top, err)
	}
	return nil
}

// swapLink points name at dest atomically: a new symlink tmp (a leftover
// of a crash is removed first) renamed over name, so that name never goes
// missing.
func swapLink(dest, tmp, name string) error {
	if err := removeIfExists(tmp); err != nil {
		return err
	}
	if err := os.Symlink(dest, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// removeIfExists removes name; one that is gone already is no error.
func removeIfExists(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// unlinkStale removes our visible links that p no longer has; entries the
// writer did not make are left alone.
func (w *Writer) unlinkStale(p *payload) error {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if ownName(name) || p.tops[name] || e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		if dest, err := os.Readlink(filepath.Join(w.dir, name)); err != nil || dest != linkDest(name) {
			continue
		}
		if err := removeIfExists(filepath.Join(w.dir, name)); err != nil {
			errs = append(errs, fmt.Errorf("sink: unlink %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// syncDir makes a directory's entries durable; on the memory-backed volume
// it costs nothing, on a disk it keeps a crash from losing the rename.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	return errors.Join(serr, cerr)
}
