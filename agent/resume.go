package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/agent/sink"
)

// StateFile is written into the volume beside the secrets, in the same
// atomic swap. It records versions and lease ids — never values — so that
// the sidecar resumes what the init container wrote: it skips rewriting
// unchanged files, and it knows the init container's leases. Those it
// replaces at once with credentials of its own and revokes after the
// grace: a Vault lease dies with the token that issued it, and the init
// container's token is renewed by nobody once it exits.
const StateFile = ".agent-state.json"

type savedState struct {
	Secrets map[string]savedSecret `json:"secrets"`
	// Retiring are superseded leases not revoked yet.
	Retiring []savedRetiring `json:"retiring,omitempty"`
}

type savedRetiring struct {
	ID     string    `json:"id"`
	Secret string    `json:"secret"`
	Due    time.Time `json:"due"`
}

type savedSecret struct {
	Version string      `json:"version"`
	Files   []savedFile `json:"files"`
	Lease   *savedLease `json:"lease,omitempty"`
	// Validity is a certificate's, so that the sidecar keeps the one the
	// init container issued until its renewal time.
	Validity *savedValidity `json:"validity,omitempty"`
}

type savedValidity struct {
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
}

type savedFile struct {
	Path string      `json:"path"`
	Mode os.FileMode `json:"mode"`
	UID  int         `json:"uid"`
	GID  int         `json:"gid"`
}

type savedLease struct {
	ID        string `json:"id"`
	Renewable bool   `json:"renewable"`
}

// stateFile renders the state of every present secret. Caller holds a.mu.
func (a *Agent) stateFile() sink.File {
	s := savedState{Secrets: map[string]savedSecret{}}
	for _, st := range a.secrets {
		if st.files == nil {
			continue
		}
		saved := savedSecret{Version: st.version}
		for _, f := range st.files {
			saved.Files = append(saved.Files, savedFile{Path: f.Path, Mode: f.Mode, UID: f.UID, GID: f.GID})
		}
		if st.lease != nil {
			saved.Lease = &savedLease{ID: st.lease.ID, Renewable: st.lease.Renewable}
		}
		if st.validity != nil {
			saved.Validity = &savedValidity{NotBefore: st.validity.NotBefore, NotAfter: st.validity.NotAfter}
		}
		s.Secrets[st.spec.Name] = saved
	}
	for id, l := range a.retiring {
		s.Retiring = append(s.Retiring, savedRetiring{ID: id, Secret: l.Secret, Due: l.Due})
	}
	slices.SortFunc(s.Retiring, func(x, y savedRetiring) int { return strings.Compare(x.ID, y.ID) })
	data, _ := json.Marshal(s) // plain structs: cannot fail
	return sink.File{Path: StateFile, Data: data, Mode: 0o400, UID: -1, GID: -1}
}

// resume loads what an earlier agent in this pod wrote, and returns the
// leases it had yet to revoke. A missing, unreadable or invalid state only
// means the first refresh fetches everything.
func (a *Agent) resume() map[string]retiringLease {
	dir := a.cfg.MountPath
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil
	}
	var s savedState
	if err := json.Unmarshal(data, &s); err != nil {
		a.log.Warn("ignoring unreadable agent state; fetching every secret afresh", "file", StateFile, "err", err)
		return nil
	}
	if err := a.validateState(s); err != nil {
		a.log.Warn("ignoring invalid agent state; fetching every secret afresh", "file", StateFile, "err", err)
		return nil
	}
	retiring := map[string]retiringLease{}
	for _, r := range s.Retiring {
		retiring[r.ID] = retiringLease{Secret: r.Secret, Due: r.Due}
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, st := range a.secrets {
		saved, ok := s.Secrets[st.spec.Name]
		if !ok {
			continue
		}
		files, ok := readBack(dir, saved.Files)
		if !ok {
			continue
		}
		st.files, st.version = files, saved.Version
		st.writtenFiles, st.writtenVersion = files, saved.Version
		if v := saved.Validity; v != nil && st.spec.Certificate != nil {
			validity := backend.Validity{NotBefore: v.NotBefore, NotAfter: v.NotAfter}
			st.validity, st.renewAt = &validity, certRenewAt(validity, now, certJitter(validity))
			st.writtenValidity = st.validity
		}
		if saved.Lease != nil {
			// Held only until the first refresh replaces it.
			st.lease = &backend.Lease{ID: saved.Lease.ID, Renewable: saved.Lease.Renewable, Expiry: now}
			st.inherited = true
		}
	}
	return retiring
}

func readBack(dir string, saved []savedFile) ([]sink.File, bool) {
	var files []sink.File
	for _, f := range saved {
		data, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil {
			return nil, false
		}
		files = append(files, sink.File{Path: f.Path, Data: data, Mode: f.Mode, UID: f.UID, GID: f.GID})
	}
	return files, true
}

// Bounds of the strings a state file holds: versions and lease ids are
// identifiers, never long, never more than printable ASCII.
const maxStateIDLength = 1024

// validateState checks everything resume would act on, so that a state
// file that is corrupt, or written by something else, cannot make the
// agent read outside its volume, write a payload the writer rejects (the
// agent would fail every write from then on), or revoke a made-up lease.
// Any problem discards the whole state. Problems name the secret and the
// field, never the content: a state file holds no values, but a corrupt
// one might.
func (a *Agent) validateState(s savedState) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(s.Secrets)) {
		saved := s.Secrets[name]
		if a.find(name) == nil {
			errs = append(errs, errors.New("an entry names a secret the config does not have"))
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("secret %s: "+format, append([]any{name}, args...)...))
		}
		if !validStateID(saved.Version, true) {
			bad("version is too long or holds characters other than printable ASCII")
		}
		if v := saved.Validity; v != nil && (v.NotBefore.IsZero() || v.NotAfter.Before(v.NotBefore)) {
			bad("validity does not end after it begins")
		}
		if l := saved.Lease; l != nil && !validStateID(l.ID, false) {
			bad("lease id is empty, too long or holds characters other than printable ASCII")
		}
		seen := map[string]bool{}
		for i, f := range saved.Files {
			switch {
			case config.ValidatePath(f.Path) != nil:
				bad("files[%d].path is not a relative path inside the volume", i)
			case f.Path != name && !strings.HasPrefix(f.Path, name+"/"):
				bad("files[%d].path lies outside the secret's own name", i)
			case seen[f.Path]:
				bad("files[%d].path is listed twice", i)
			}
			seen[f.Path] = true
			if f.Mode&^os.ModePerm != 0 {
				bad("files[%d].mode has bits other than permissions", i)
			}
			if f.UID < -1 || f.GID < -1 {
				bad("files[%d]: uid and gid must be -1 or more", i)
			}
		}
	}
	if len(s.Retiring) > maxRetiring {
		errs = append(errs, fmt.Errorf("%d retiring leases, more than %d", len(s.Retiring), maxRetiring))
	}
	for i, r := range s.Retiring {
		if !validStateID(r.ID, false) {
			errs = append(errs, fmt.Errorf("retiring[%d].id is empty, too long or holds characters other than printable ASCII", i))
		}
		if a.find(r.Secret) == nil {
			errs = append(errs, fmt.Errorf("retiring[%d] names a secret the config does not have", i))
		}
	}
	return errors.Join(errs...)
}

// maxRetiring bounds the retiring leases a state file may list: a few per
// secret at most, in practice.
const maxRetiring = 4 * 64

// validStateID reports whether s is printable ASCII without spaces, at
// most maxStateIDLength bytes, and not empty unless empty is allowed.
func validStateID(s string, empty bool) bool {
	if s == "" {
		return empty
	}
	if len(s) > maxStateIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
