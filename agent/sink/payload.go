package sink

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/tradepulse/secret-injector/agent/config"
)

// payload is a validated set of files.
type payload struct {
	files map[string]File
	paths []string        // sorted
	dirs  map[string]bool // every directory the paths imply, e.g. "postgres-tls"
	tops  map[string]bool // first elements: the visible entries
}

// newPayload validates every file and reports every problem at once, each
// naming its path.
func newPayload(files []File) (*payload, error) {
	p := &payload{
		files: make(map[string]File, len(files)),
		dirs:  map[string]bool{},
		tops:  map[string]bool{},
	}
	var errs []error
	for _, f := range files {
		if err := config.ValidatePath(f.Path); err != nil {
			errs = append(errs, fmt.Errorf("sink: %w", err))
			continue
		}
		if _, dup := p.files[f.Path]; dup {
			errs = append(errs, fmt.Errorf("sink: path %q appears twice", f.Path))
			continue
		}
		if f.Mode&^os.ModePerm != 0 {
			errs = append(errs, fmt.Errorf("sink: path %q: mode %v is more than permission bits", f.Path, f.Mode))
		}
		if f.UID < -1 || f.GID < -1 {
			errs = append(errs, fmt.Errorf("sink: path %q: uid and gid must be -1 or more", f.Path))
		}
		p.files[f.Path] = f
		p.paths = append(p.paths, f.Path)
		top, _, _ := strings.Cut(f.Path, "/")
		p.tops[top] = true
		for d := path.Dir(f.Path); d != "."; d = path.Dir(d) {
			p.dirs[d] = true
		}
	}
	for _, fp := range p.paths {
		if p.dirs[fp] {
			errs = append(errs, fmt.Errorf("sink: path %q is both a file and a directory", fp))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Strings(p.paths)
	return p, nil
}
