package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
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
}

type savedSecret struct {
	Version string      `json:"version"`
	Files   []savedFile `json:"files"`
	Lease   *savedLease `json:"lease,omitempty"`
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
		s.Secrets[st.spec.Name] = saved
	}
	data, _ := json.Marshal(s) // plain structs: cannot fail
	return sink.File{Path: StateFile, Data: data, Mode: 0o400, UID: -1, GID: -1}
}

// resume loads what an earlier agent in this pod wrote. A missing or
// unreadable state only means the first refresh fetches everything.
func (a *Agent) resume() {
	dir := a.cfg.MountPath
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return
	}
	var s savedState
	if err := json.Unmarshal(data, &s); err != nil {
		a.log.Warn("ignoring unreadable agent state", "file", StateFile, "err", err)
		return
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
		if saved.Lease != nil {
			// Held only until the first refresh replaces it.
			st.lease = &backend.Lease{ID: saved.Lease.ID, Renewable: saved.Lease.Renewable, Expiry: now}
			st.inherited = true
		}
	}
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
