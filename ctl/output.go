package ctl

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"
)

// writeReport prints rep as JSON, YAML (the same fields) or as the
// command's table, wide or not. Times in the table are relative to now, as
// kubectl prints ages.
func writeReport(w io.Writer, format string, rep *Report, now time.Time) error {
	switch format {
	case OutputJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case OutputYAML:
		out, err := yaml.Marshal(rep)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	wide := format == OutputWide
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch rep.Command {
	case "status":
		statusTable(tw, rep, now, wide)
	case "refresh":
		refreshTable(tw, rep, wide)
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

// statusTable is a row per pod and secret; CERT-EXPIRY is a certificate's
// NotAfter ("-" for a secret that is not one), so that a certificate the
// agent failed to reissue shows before it is removed. Wide adds the
// agent's backend and mode, the secret's reference, its last refresh's
// result, its lease id (references and ids, never values) and when the
// agent issues the next certificate ("due 5m ago" while reissuing fails).
func statusTable(w io.Writer, rep *Report, now time.Time, wide bool) {
	head := []string{"NAMESPACE", "POD", "SECRET", "OK", "VERSION", "LAST-SUCCESS", "LEASE-EXPIRY", "CERT-EXPIRY", "ERROR"}
	if wide {
		head = append(head, "BACKEND", "MODE", "REF", "LAST-RESULT", "LEASE-ID", "CERT-RENEW")
	}
	row(w, head...)
	for _, p := range rep.Pods {
		if p.Status == nil || len(p.Status.Secrets) == 0 {
			cols := []string{p.Namespace, p.Pod, "", "", "", "", "", "", podResult(p)}
			if wide {
				cols = append(cols, "", "", "", "", "", "")
				if p.Status != nil {
					cols[9], cols[10] = p.Status.Backend, p.Status.Mode
				}
			}
			row(w, cols...)
			continue
		}
		for _, s := range p.Status.Secrets {
			ok := "no"
			if s.OK {
				ok = "yes"
			}
			var certExpiry, certRenew time.Time
			if c := s.Certificate; c != nil {
				certExpiry, certRenew = c.NotAfter, c.RenewAt
			}
			var leaseAt time.Time
			if s.Lease != nil {
				leaseAt = s.Lease.Expiry
			}
			cols := []string{p.Namespace, p.Pod, s.Name, ok, s.Version, ago(s.LastSuccess, now), until(leaseAt, now, "expired"), until(certExpiry, now, "expired"), s.LastError}
			if wide {
				lease := ""
				if s.Lease != nil {
					lease = s.Lease.ID
				}
				cols = append(cols, p.Status.Backend, p.Status.Mode, s.Ref, s.Result, lease, until(certRenew, now, "due"))
			}
			row(w, cols...)
		}
	}
}

// refreshTable is a row per pod, then one per workload restarted; wide
// adds each pod's refreshed secrets and their results.
func refreshTable(w io.Writer, rep *Report, wide bool) {
	if wide {
		row(w, "NAMESPACE", "POD", "RESULT", "SECRETS")
	} else {
		row(w, "NAMESPACE", "POD", "RESULT")
	}
	for _, p := range rep.Pods {
		if !wide {
			row(w, p.Namespace, p.Pod, podResult(p))
			continue
		}
		var secrets []string
		for _, s := range p.Secrets {
			secrets = append(secrets, s.Name+"="+cmp.Or(s.Result, "done"))
		}
		row(w, p.Namespace, p.Pod, podResult(p), strings.Join(secrets, ","))
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

// until is "in 45m", or past and the time since ("expired 2m ago") once t
// has passed; "" for the zero time (no lease, not a certificate).
func until(t, now time.Time, past string) string {
	if t.IsZero() {
		return ""
	}
	if d := t.Sub(now); d > 0 {
		return "in " + duration.HumanDuration(d)
	}
	return past + " " + ago(t, now)
}
