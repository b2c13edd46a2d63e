package ctl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tradepulse/secret-injector/agent/admin"
)

// ErrFailed is matched by the error a command returns when any pod or
// workload failed; its message names each and why.
var ErrFailed = errors.New("failed")

// Outcome is what became of one pod or workload.
type Outcome string

// Outcomes.
const (
	OutcomeOK      Outcome = "ok"
	OutcomeFailed  Outcome = "failed"
	OutcomeSkipped Outcome = "skipped"
	// OutcomeDryRun is a pod or workload a dry run would have acted on.
	OutcomeDryRun Outcome = "dry-run"
)

// PodReport is what happened in one pod. It carries the agents' answers,
// which hold names, versions, times and lease ids, never values.
type PodReport struct {
	Namespace string  `json:"namespace"`
	Pod       string  `json:"pod"`
	Outcome   Outcome `json:"outcome"`
	// Detail says what was done, or why the pod failed or was skipped.
	Detail string `json:"detail,omitempty"`
	// Status is the agent's status (status).
	Status *admin.Status `json:"status,omitempty"`
	// Secrets are the refreshed secrets' states (refresh).
	Secrets []admin.SecretStatus `json:"secrets,omitempty"`
	// Revoked are the revoked leases and their replacements (revoke).
	Revoked []admin.Revocation `json:"revoked,omitempty"`
}

// Name is namespace/pod.
func (p PodReport) Name() string { return p.Namespace + "/" + p.Pod }

// Restart is one workload refresh restarted (or would have, or could not).
type Restart struct {
	Workload Workload `json:"workload"`
	// Pods are the selected pods of the workload that cannot reload.
	Pods    []string `json:"pods"`
	Outcome Outcome  `json:"outcome"`
	// RestartedAt is the kubectl.kubernetes.io/restartedAt value written.
	RestartedAt string `json:"restartedAt,omitempty"`
	Detail      string `json:"detail,omitempty"`
}

// Report is a command's whole result: the JSON output, and what the table
// and the summary are made from.
type Report struct {
	Command string      `json:"command"`
	DryRun  bool        `json:"dryRun,omitempty"`
	Pods    []PodReport `json:"pods"`
	// Restarts are the workloads of pods that cannot reload (refresh).
	Restarts []Restart `json:"restarts,omitempty"`
	// Warnings are things the user should act on that did not fail the
	// command, e.g. a pod that cannot reload and has no workload.
	Warnings []string `json:"warnings,omitempty"`
}

// count tallies outcomes.
func count[T any](items []T, outcome func(T) Outcome) map[Outcome]int {
	n := map[Outcome]int{}
	for _, it := range items {
		n[outcome(it)]++
	}
	return n
}

// Summary is the last line a command prints, e.g.
// "12 pods: 11 ok, 1 failed; 1 workload restarted".
func (r *Report) Summary() string {
	n := count(r.Pods, func(p PodReport) Outcome { return p.Outcome })
	var parts []string
	for _, o := range []Outcome{OutcomeOK, OutcomeDryRun, OutcomeFailed, OutcomeSkipped} {
		if n[o] > 0 || o == OutcomeOK && !r.DryRun || o == OutcomeFailed {
			parts = append(parts, fmt.Sprintf("%d %s", n[o], o))
		}
	}
	s := fmt.Sprintf("%s: %s", plural(len(r.Pods), "pod"), strings.Join(parts, ", "))
	if len(r.Restarts) > 0 {
		w := count(r.Restarts, func(x Restart) Outcome { return x.Outcome })
		var rs []string
		for _, o := range []Outcome{OutcomeOK, OutcomeDryRun, OutcomeFailed, OutcomeSkipped} {
			if w[o] > 0 {
				rs = append(rs, fmt.Sprintf("%d %s", w[o], restartWords[o]))
			}
		}
		s += fmt.Sprintf("; %s: %s", plural(len(r.Restarts), "workload"), strings.Join(rs, ", "))
	}
	if r.DryRun {
		s += " (dry run: nothing changed)"
	}
	return s
}

var restartWords = map[Outcome]string{
	OutcomeOK: "restarted", OutcomeDryRun: "would be restarted", OutcomeFailed: "failed", OutcomeSkipped: "not restarted",
}

// Err is nil when nothing failed, else an error matching ErrFailed that
// names every failed pod and workload and why.
func (r *Report) Err() error {
	var lines []string
	failedPods := 0
	for _, p := range r.Pods {
		if p.Outcome == OutcomeFailed {
			failedPods++
			lines = append(lines, "  "+p.Name()+": "+p.Detail)
		}
	}
	failedWorkloads := 0
	for _, w := range r.Restarts {
		if w.Outcome == OutcomeFailed {
			failedWorkloads++
			lines = append(lines, "  "+w.Workload.String()+": "+w.Detail)
		}
	}
	if len(lines) == 0 {
		return r.allSkipped()
	}
	var what []string
	if failedPods > 0 {
		what = append(what, fmt.Sprintf("%d of %s", failedPods, plural(len(r.Pods), "pod")))
	}
	if failedWorkloads > 0 {
		what = append(what, fmt.Sprintf("%d of %s", failedWorkloads, plural(len(r.Restarts), "workload restart")))
	}
	return fmt.Errorf("%s %w:\n%s", strings.Join(what, " and "), ErrFailed, strings.Join(lines, "\n"))
}

// allSkipped fails a run in which no pod was worked on, e.g. a --secret
// that no selected pod holds, or a revoke where none holds a lease: what
// was asked did not happen.
func (r *Report) allSkipped() error {
	var lines []string
	for _, p := range r.Pods {
		if p.Outcome != OutcomeSkipped {
			return nil
		}
		lines = append(lines, "  "+p.Name()+": "+p.Detail)
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("nothing done, every selected pod was skipped (%w):\n%s", ErrFailed, strings.Join(lines, "\n"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
