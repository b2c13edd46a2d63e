package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/tradepulse/secret-injector/agent/admin"
)

var _ admin.Agent = (*Agent)(nil)

// Status reports every secret's state for GET /v1/status: versions, times,
// errors and lease ids, never values.
func (a *Agent) Status() admin.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := admin.Status{Backend: a.backendName, Mode: a.mode, Ready: a.ready}
	for _, st := range a.secrets {
		s.Secrets = append(s.Secrets, a.secretStatus(st))
	}
	return s
}

// secretStatus snapshots one secret. Caller holds a.mu.
func (a *Agent) secretStatus(st *secretState) admin.SecretStatus {
	ss := admin.SecretStatus{
		Name:        st.spec.Name,
		Ref:         st.spec.Ref,
		OK:          st.ok,
		Version:     st.version,
		LastSuccess: st.lastSuccess,
		LastError:   st.lastError,
		Result:      st.result,
	}
	for _, f := range st.files {
		ss.Files = append(ss.Files, f.Path)
	}
	if v := st.validity; v != nil && st.files != nil {
		ss.Certificate = &admin.CertificateStatus{NotBefore: v.NotBefore, NotAfter: v.NotAfter, RenewAt: st.renewAt}
	}
	if l := st.lease; l != nil {
		ss.Lease = &admin.LeaseStatus{
			ID:         l.ID,
			TTLSeconds: int64(time.Until(l.Expiry).Seconds()),
			Expiry:     l.Expiry,
			Renewable:  l.Renewable,
		}
	}
	return ss
}

// Refresh forces a fetch of the named secret (every secret when name is
// empty), skipping the version check, and writes what changed. For a leased
// secret this issues new credentials; the old lease is revoked after the
// grace period.
func (a *Agent) Refresh(ctx context.Context, name string) (admin.RefreshResult, error) {
	targets, err := a.selectSecrets(name)
	if err != nil {
		return admin.RefreshResult{}, err
	}
	var res admin.RefreshResult
	for _, st := range targets {
		a.refreshAndSync(ctx, st, true)
		a.mu.Lock()
		res.Secrets = append(res.Secrets, a.secretStatus(st))
		a.mu.Unlock()
	}
	return res, nil
}

func (a *Agent) selectSecrets(name string) ([]*secretState, error) {
	if name == "" {
		return a.secrets, nil
	}
	if st := a.find(name); st != nil {
		return []*secretState{st}, nil
	}
	return nil, fmt.Errorf("%w: %q", admin.ErrUnknownSecret, name)
}
