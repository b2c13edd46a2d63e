package ctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/injector"
)

// refresh makes every selected agent fetch now, then restarts, once each,
// the workloads of the pods that cannot reload.
func (r *runner) refresh(ctx context.Context, pods []*corev1.Pod) (*Report, error) {
	rep := &Report{Command: "refresh", DryRun: r.opts.DryRun}
	what := "every secret"
	if r.opts.Secret != "" {
		what = "secret " + r.opts.Secret
	}
	rep.Pods = r.fanout(true).run(ctx, pods, func(ctx context.Context, pod *corev1.Pod) PodReport {
		if why := r.preflight(pod); why != "" {
			return skip(why)
		}
		if r.opts.DryRun {
			return PodReport{Outcome: OutcomeDryRun, Detail: "would refresh " + what}
		}
		var res admin.RefreshResult
		err := withAgent(ctx, r.dialer, pod, func(c *admin.Client) error {
			var err error
			res, err = c.Refresh(ctx, r.opts.Secret)
			return err
		})
		switch {
		case errors.Is(err, admin.ErrUnknownSecret):
			return skip(noSecret(r.opts.Secret))
		case err != nil:
			pr := fail(err)
			pr.Secrets = res.Secrets
			return pr
		}
		return PodReport{Outcome: OutcomeOK, Secrets: res.Secrets, Detail: refreshed(res.Secrets)}
	})
	err := r.restartWorkloads(ctx, rep, pods)
	return rep, err
}

// refreshed is e.g. "refreshed 4 secrets (1 updated, 3 unchanged)".
func refreshed(secrets []admin.SecretStatus) string {
	var order []string
	n := map[string]int{}
	for _, s := range secrets {
		res := s.Result
		if res == "" {
			res = "done"
		}
		if n[res] == 0 {
			order = append(order, res)
		}
		n[res]++
	}
	var parts []string
	for _, res := range order {
		parts = append(parts, fmt.Sprintf("%d %s", n[res], res))
	}
	s := "refreshed " + plural(len(secrets), "secret")
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// restartWorkloads restarts the Deployment, StatefulSet or DaemonSet of
// every pod that cannot reload, once per workload however many of its
// pods were selected. A workload with a pod whose refresh failed is left
// alone: its new pods would start without the new secrets. Pods that
// cannot reload and have no such workload are named in a warning.
func (r *runner) restartWorkloads(ctx context.Context, rep *Report, pods []*corev1.Pod) error {
	own := newOwners(r.client)
	byWorkload := map[Workload]int{} // index in rep.Restarts
	failedPods := map[Workload][]string{}
	acted := map[Workload]bool{}
	var errs []error
	for i, pod := range pods {
		if !cannotReload(pod) {
			continue
		}
		pr := rep.Pods[i]
		w, why, err := own.workload(ctx, pod)
		if err != nil {
			errs = append(errs, fmt.Errorf("pod %s cannot reload, and its workload is unknown: %w", podKey(pod), err))
			continue
		}
		if why != "" {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("pod %s cannot reload (%s: %s) but was not restarted: %s; restart it yourself",
				podKey(pod), injector.AnnotationReload, injector.ReloadRestart, why))
			continue
		}
		idx, seen := byWorkload[w]
		if !seen {
			idx = len(rep.Restarts)
			byWorkload[w] = idx
			rep.Restarts = append(rep.Restarts, Restart{Workload: w})
		}
		rep.Restarts[idx].Pods = append(rep.Restarts[idx].Pods, pod.Name)
		switch {
		case pr.Outcome == OutcomeFailed:
			failedPods[w] = append(failedPods[w], pod.Name)
		case pr.Outcome == OutcomeOK, pr.Outcome == OutcomeDryRun:
			acted[w] = true
		case pr.Outcome == OutcomeSkipped && initOnly(pod) && (r.opts.Secret == "" || holdsSecret(pod, r.opts.Secret)):
			// Mode init: a restart is the only way to new secrets.
			acted[w] = true
		}
	}
	for i := range rep.Restarts {
		x := &rep.Restarts[i]
		w := x.Workload
		switch {
		case len(failedPods[w]) > 0:
			x.Outcome, x.Detail = OutcomeSkipped, "refresh failed in pod "+strings.Join(failedPods[w], ", ")
		case !acted[w]:
			x.Outcome, x.Detail = OutcomeSkipped, "nothing was refreshed in its selected pods"
		case r.opts.DryRun:
			x.Outcome = OutcomeDryRun
		default:
			rctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
			at, err := restart(rctx, r.client, w, r.now())
			cancel()
			if err != nil {
				x.Outcome, x.Detail = OutcomeFailed, err.Error()
			} else {
				x.Outcome, x.RestartedAt = OutcomeOK, at
			}
		}
	}
	return errors.Join(errs...)
}
