package ctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/agent/admin"
)

// status asks every selected agent for its status. A pod fails when its
// agent cannot be reached or one of its (selected) secrets is not ok, so
// that the exit code answers "is everything fresh?".
func (r *runner) status(ctx context.Context, pods []*corev1.Pod) *Report {
	rep := &Report{Command: "status"}
	rep.Pods = r.fanout(false).run(ctx, pods, func(ctx context.Context, pod *corev1.Pod) PodReport {
		if why := r.preflight(pod); why != "" {
			return skip(why)
		}
		var st admin.Status
		err := withAgent(ctx, r.dialer, pod, func(c *admin.Client) error {
			var err error
			st, err = c.Status(ctx)
			return err
		})
		if err != nil {
			return fail(err)
		}
		if name := r.opts.Secret; name != "" {
			st.Secrets = slices.DeleteFunc(st.Secrets, func(s admin.SecretStatus) bool { return s.Name != name })
			if len(st.Secrets) == 0 {
				return skip(noSecret(name))
			}
		}
		pr := PodReport{Outcome: OutcomeOK, Status: &st, Detail: fmt.Sprintf("%s ok", plural(len(st.Secrets), "secret"))}
		if err := notOK(st.Secrets); err != nil {
			pr.Outcome, pr.Detail = OutcomeFailed, err.Error()
		}
		return pr
	})
	return rep
}

// notOK names each secret that is not ok and its last error.
func notOK(secrets []admin.SecretStatus) error {
	var bad []string
	for _, s := range secrets {
		if s.OK {
			continue
		}
		why := s.LastError
		if why == "" {
			why = "not written yet"
		}
		bad = append(bad, fmt.Sprintf("secret %s: %s", s.Name, why))
	}
	if len(bad) == 0 {
		return nil
	}
	return errors.New(strings.Join(bad, "; "))
}
