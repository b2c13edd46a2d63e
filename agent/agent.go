// Package agent is the runtime in the pod: it fetches every configured
// secret from one backend, renders it, writes the whole payload atomically
// into the shared volume, and then keeps it fresh — polling versions,
// renewing leases, failing closed on gone or denied secrets, keeping the
// last good value on transient errors, and telling the app.
//
// The init loop (RunInit) exits once every required secret is written; the
// sidecar loop (RunSidecar) runs until its context ends.
package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/agent/metrics"
	"github.com/tradepulse/secret-injector/agent/sink"
)

// Volume is where rendered files go: the whole payload at once.
type Volume interface {
	Write(files []sink.File) (changed bool, err error)
}

// Trigger tells the app, debounced, that its files changed.
type Trigger interface {
	Trigger()
}

// Agent holds the state of every secret and the parts that act on it.
type Agent struct {
	cfg         *config.Config
	backend     backend.Backend
	backendName string
	volume      Volume
	notify      Trigger
	metrics     *metrics.Agent
	log         *slog.Logger
	mode        string

	// writeMu serialises payload swaps so that two refreshes finishing
	// together cannot write an older composition last.
	writeMu sync.Mutex
	// mu guards the fields of every secretState and ready.
	mu      sync.Mutex
	secrets []*secretState
	ready   bool
	// wake is signalled by a backend Watcher: every secret loop checks at
	// once instead of waiting for its timer.
	wake chan struct{}
	// bg tracks lease keepers and delayed revocations, so that Run returns
	// only when they have.
	bg sync.WaitGroup
	// runCtx is the sidecar loop's context, used for background work that a
	// request (admin) starts but that must outlive the request.
	runCtx context.Context
	// shutdownTimeout bounds what RunSidecar does after its context ends.
	shutdownTimeout time.Duration
	// nativeSidecar: the app starts only once this sidecar is ready, so
	// its first pass has nobody to tell (unless it is a restart).
	nativeSidecar bool
	// sidecar is set by RunSidecar: becoming ready leaves SidecarMarkerFile.
	sidecar bool
	// retiring are superseded leases waiting for their revocation, by
	// lease id. The state file carries them, so that an agent killed
	// before it revoked them leaves the work to the next one in the pod.
	retiring map[string]retiringLease
}

// retiringLease is a superseded lease and when it is due for revocation.
type retiringLease struct {
	Secret string
	Due    time.Time
}

// secretState is one secret's last known state; fields are guarded by
// Agent.mu, and refreshMu serialises refreshes of this secret.
type secretState struct {
	spec      config.Secret
	refreshMu sync.Mutex

	version     string
	files       []sink.File // nil when the secret is absent from the volume
	ok          bool
	result      string
	lastSuccess time.Time
	lastError   string
	failures    int // consecutive failures, for backoff
	lease       *backend.Lease
	stopLease   context.CancelFunc
	// needFetch is set when the lease can no longer be renewed: the next
	// refresh must ask for new credentials.
	needFetch bool
	// inherited marks a lease resumed from the init container: the first
	// refresh replaces it.
	inherited bool
	kick      chan struct{}
	// writtenFiles and writtenVersion are what the volume holds of this
	// secret since the last write that succeeded: what a failed write
	// falls back to.
	writtenFiles   []sink.File
	writtenVersion string
	// writeFailures counts writes refused in a row with this secret's new
	// files, so that retries back off although each fetch succeeds.
	writeFailures int
	// validity is the held certificate's (certificates only), and
	// renewAt when the next one is issued (see certs.go).
	validity *backend.Validity
	renewAt  time.Time
	// writtenValidity is the validity of the certificate in writtenFiles.
	writtenValidity *backend.Validity
}

// Options are the parts an Agent is built from.
type Options struct {
	Config  *config.Config
	Backend backend.Backend
	Volume  Volume
	// Notify may be nil: the app is not told.
	Notify  Trigger
	Metrics *metrics.Agent
	Log     *slog.Logger
	// Mode is "init" or "sidecar", for status only.
	Mode string
	// ShutdownTimeout bounds the sidecar's work after its context ends
	// (revoking leases); 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// NativeSidecar says the sidecar runs as a native sidecar (an init
	// container with restartPolicy Always): the app containers start only
	// after its startup probe passes, that is after its first pass, so
	// that pass tells the app nothing. A restarted sidecar (the app is
	// running) and a classic sidecar (the app starts beside it) tell it.
	NativeSidecar bool
}

// New builds an agent. The config must be normalised and valid.
func New(o Options) *Agent {
	a := &Agent{
		cfg:         o.Config,
		backend:     o.Backend,
		backendName: o.Config.Backend.Type,
		volume:      o.Volume,
		notify:      o.Notify,
		metrics:     o.Metrics,
		log:         o.Log,
		mode:        o.Mode,
		wake:        make(chan struct{}, 1),
		retiring:    map[string]retiringLease{},

		shutdownTimeout: o.ShutdownTimeout,
		nativeSidecar:   o.NativeSidecar,
	}
	if a.shutdownTimeout <= 0 {
		a.shutdownTimeout = DefaultShutdownTimeout
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	specs := slices.Clone(o.Config.Secrets)
	slices.SortFunc(specs, func(x, y config.Secret) int { return compareStrings(x.Name, y.Name) })
	for _, s := range specs {
		a.secrets = append(a.secrets, &secretState{spec: s, kick: make(chan struct{}, 1)})
	}
	return a
}

// Ready reports whether every required secret has been written; the
// startup probe of a native sidecar waits for it.
func (a *Agent) Ready() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ready
}

// payload composes the files of every present secret, in name order, and
// the agent's state file.
// Caller holds a.mu.
func (a *Agent) payload() []sink.File {
	var files []sink.File
	for _, st := range a.secrets {
		files = append(files, st.files...)
	}
	return append(files, a.stateFile())
}

// sync writes the current composition to the volume and, when it changed,
// tells the app. It returns whether the volume changed.
func (a *Agent) sync() (bool, error) { return a.write(true) }

// write writes the current composition to the volume and, when it changed
// and tell is set, tells the app. It returns whether the volume changed.
func (a *Agent) write(tell bool) (bool, error) {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	a.mu.Lock()
	files := a.payload()
	a.mu.Unlock()
	changed, err := a.volume.Write(files)
	a.mu.Lock()
	if err != nil {
		a.writeFailed(err)
	} else {
		for _, st := range a.secrets {
			st.writtenFiles, st.writtenVersion, st.writeFailures = st.files, st.version, 0
			st.writtenValidity = st.validity
		}
	}
	a.mu.Unlock()
	switch {
	case err != nil:
		a.metrics.Writes.WithLabelValues(metrics.ResultError).Inc()
		a.log.Error("writing the secrets volume failed; files keep their previous content", "err", err)
		return false, err
	case changed:
		a.metrics.Writes.WithLabelValues(metrics.ResultUpdated).Inc()
		if a.notify != nil && tell {
			a.notify.Trigger()
		}
	}
	return changed, nil
}

// writeFailed follows a write the volume refused: every secret whose
// files were to change falls back to what the volume still holds, is
// marked failed with the reason (a full volume said as such), and is
// fetched again with backoff. The other secrets stay as they are, so one
// oversized secret does not hold back the rest. Caller holds a.mu.
func (a *Agent) writeFailed(err error) {
	reason := err.Error()
	if errors.Is(err, syscall.ENOSPC) {
		reason = "the secrets volume is full: its size limit (the chart's volumeSizeLimit, 4Mi by default) is too small for the secrets' files"
	}
	for _, st := range a.secrets {
		if slices.EqualFunc(st.files, st.writtenFiles, sameFile) {
			continue
		}
		st.files, st.version = st.writtenFiles, st.writtenVersion
		st.validity = st.writtenValidity
		st.writeFailures++
		st.ok, st.result, st.failures = false, metrics.ResultError, st.writeFailures
		st.lastError = "secret " + st.spec.Name + ": not written: " + reason
		st.needFetch = true
		a.metrics.Status(st.spec.Name, a.backendName, false, time.Now())
	}
}

func sameFile(x, y sink.File) bool {
	return x.Path == y.Path && x.Mode == y.Mode && x.UID == y.UID && x.GID == y.GID && bytes.Equal(x.Data, y.Data)
}

func (a *Agent) find(name string) *secretState {
	for _, st := range a.secrets {
		if st.spec.Name == name {
			return st
		}
	}
	return nil
}

func compareStrings(x, y string) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
