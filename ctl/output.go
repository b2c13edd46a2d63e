package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/tradepulse/secret-injector/agent/admin"
)

// writeReport prints rep as JSON or as the command's table. Times in the
// table are relative to now, as kubectl prints ages.
func writeReport(w io.Writer, format string, rep *Report, now time.Time) error {
	if format == OutputJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch rep.Command {
	case "status":
		statusTable(tw, rep, now)
	case "refresh":
		refreshTable(tw, rep)
	case "revoke":
		revokeTable(tw, rep)
	}
	return tw.Flush()
}

func row(w io.Writer, cols ...string) {
	for i, c := range cols {
		if c == "" {
			cols[i] = "-"
		}
	}
	fmt.Fprintln(w, strings.Join(cols, "\t"))
}

// podResult is a pod's outcome and detail in one cell.
func podResult(p PodReport) string {
	if p.Detail == "" {
		return string(p.Outcome)
	}
	return string(p.Outcome) + ": " + p.Detail
}

func statusTable(w io.Writer, rep *Report, now time.Time) {
	row(w, "NAMESPACE", "POD", "SECRET", "OK", "VERSION", "LAST-SUCCESS", "LEASE-EXPIRY", "ERROR")
	for _, p := range rep.Pods {
		if p.Status == nil || len(p.Status.Secrets) == 0 {
			row(w, p.Namespace, p.Pod, "", "", "", "", "", podResult(p))
			continue
		}
		for _, s := range p.Status.Secrets {
			ok := "no"
			if s.OK {
				ok = "yes"
			}
			row(w, p.Namespace, p.Pod, s.Name, ok, s.Version, ago(s.LastSuccess, now), leaseExpiry(s.Lease, now), s.LastError)
		}
	}
}

func refreshTable(w io.Writer, rep *Report) {
	row(w, "NAMESPACE", "POD", "RESULT")
	for _, p := range rep.Pods {
		row(w, p.Namespace, p.Pod, podResult(p))
	}
	if len(rep.Restarts) == 0 {
		return
	}
	fmt.Fprintln(w)
	row(w, "WORKLOAD", "RESULT", "PODS THAT CANNOT RELOAD")
	for _, x := range rep.Restarts {
		res := restartWords[x.Outcome]
		if x.Detail != "" {
			res += ": " + x.Detail
		}
		row(w, x.Workload.String(), res, strings.Join(x.Pods, ","))
	}
}

func revokeTable(w io.Writer, rep *Report) {
	row(w, "NAMESPACE", "POD", "SECRET", "REVOKED-LEASE", "NEW-LEASE", "RESULT")
	for _, p := range rep.Pods {
		if len(p.Revoked) == 0 {
			row(w, p.Namespace, p.Pod, "", "", "", podResult(p))
			continue
		}
		for _, rv := range p.Revoked {
			res := podResult(p)
			if rv.Error != "" {
				res = string(OutcomeFailed) + ": " + rv.Error
			}
			row(w, p.Namespace, p.Pod, rv.Secret, rv.RevokedLease, rv.NewLease, res)
		}
	}
}

// ago is "5m ago", or "never" for the zero time.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return duration.HumanDuration(now.Sub(t)) + " ago"
}

// leaseExpiry is "in 45m" or "expired 2m ago"; "" without a lease.
func leaseExpiry(l *admin.LeaseStatus, now time.Time) string {
	if l == nil || l.Expiry.IsZero() {
		return ""
	}
	if d := l.Expiry.Sub(now); d > 0 {
		return "in " + duration.HumanDuration(d)
	}
	return "expired " + ago(l.Expiry, now)
}
