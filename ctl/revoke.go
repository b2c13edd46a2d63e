package ctl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/agent/admin"
)

// pollInterval is how often revoke reads an agent's status while waiting
// for fresh credentials.
const pollInterval = 500 * time.Millisecond

// revoke has every selected agent revoke its leases (or --secret's) and
// fetch fresh credentials, then waits until each agent reports them.
func (r *runner) revoke(ctx context.Context, pods []*corev1.Pod) *Report {
	rep := &Report{Command: "revoke", DryRun: r.opts.DryRun}
	rep.Pods = r.fanout(true).run(ctx, pods, func(ctx context.Context, pod *corev1.Pod) PodReport {
		if why := r.preflight(pod); why != "" {
			return skip(why)
		}
		var pr PodReport
		err := withAgent(ctx, r.dialer, pod, func(c *admin.Client) error {
			var err error
			if r.opts.DryRun {
				pr, err = r.planRevoke(ctx, c)
			} else {
				pr, err = r.revokeOne(ctx, c)
			}
			return err
		})
		if err != nil {
			f := fail(err)
			f.Revoked = pr.Revoked
			return f
		}
		return pr
	})
	return rep
}

// planRevoke lists the leases a revoke would revoke.
func (r *runner) planRevoke(ctx context.Context, c *admin.Client) (PodReport, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return PodReport{}, err
	}
	var planned []admin.Revocation
	for _, s := range st.Secrets {
		if s.Lease != nil && (r.opts.Secret == "" || s.Name == r.opts.Secret) {
			planned = append(planned, admin.Revocation{Secret: s.Name, RevokedLease: s.Lease.ID})
		}
	}
	if len(planned) == 0 {
		return skip(noLease(r.opts.Secret)), nil
	}
	return PodReport{Outcome: OutcomeDryRun, Revoked: planned, Detail: "would revoke " + plural(len(planned), "lease")}, nil
}

// revokeOne revokes and waits for the replacements. A failure returns
// what was revoked along with the error.
func (r *runner) revokeOne(ctx context.Context, c *admin.Client) (PodReport, error) {
	res, err := c.RevokeLeases(ctx, r.opts.Secret)
	switch {
	case errors.Is(err, admin.ErrNoLeases):
		return skip(noLease(r.opts.Secret)), nil
	case errors.Is(err, admin.ErrUnknownSecret):
		return skip(noSecret(r.opts.Secret)), nil
	case err != nil:
		return PodReport{Revoked: res.Revoked}, err
	}
	pr := PodReport{Revoked: res.Revoked}
	if err := waitFresh(ctx, c.Status, res.Revoked, pollInterval); err != nil {
		return pr, err
	}
	var names []string
	for _, rv := range res.Revoked {
		names = append(names, rv.Secret)
	}
	pr.Outcome = OutcomeOK
	pr.Detail = fmt.Sprintf("revoked %s; fresh credentials in place (%s)", plural(len(res.Revoked), "lease"), strings.Join(names, ", "))
	return pr, nil
}

func noLease(secret string) string {
	if secret != "" {
		return fmt.Sprintf("secret %q holds no lease", secret)
	}
	return "holds no lease"
}

// waitFresh polls status until every revoked secret is ok on a lease other
// than the revoked one, or ctx ends.
func waitFresh(ctx context.Context, status func(context.Context) (admin.Status, error), revoked []admin.Revocation, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		st, err := status(ctx)
		var pending []string
		if err == nil {
			pending = stale(st, revoked)
			if len(pending) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			why := strings.Join(pending, "; ")
			if err != nil {
				why = err.Error()
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("no fresh credentials within --timeout: %s", why)
			}
			return fmt.Errorf("waiting for fresh credentials: %w: %s", ctx.Err(), why)
		case <-t.C:
		}
	}
}

// stale names each revoked secret that is not yet ok on a new lease.
func stale(st admin.Status, revoked []admin.Revocation) []string {
	byName := map[string]admin.SecretStatus{}
	for _, s := range st.Secrets {
		byName[s.Name] = s
	}
	var pending []string
	for _, rv := range revoked {
		s, ok := byName[rv.Secret]
		switch {
		case !ok:
			pending = append(pending, fmt.Sprintf("secret %s: no longer in the agent's status", rv.Secret))
		case !s.OK:
			why := s.LastError
			if why == "" {
				why = "not written"
			}
			pending = append(pending, fmt.Sprintf("secret %s: %s", rv.Secret, why))
		case s.Lease == nil:
			pending = append(pending, fmt.Sprintf("secret %s: no lease yet", rv.Secret))
		case s.Lease.ID == rv.RevokedLease:
			pending = append(pending, fmt.Sprintf("secret %s: still on the revoked lease", rv.Secret))
		}
	}
	return pending
}
