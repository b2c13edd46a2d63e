package ctl

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSummaryAndErr(t *testing.T) {
	ok := PodReport{Namespace: "trading", Pod: "api-1", Outcome: OutcomeOK, Detail: "refreshed 2 secrets"}
	failed := PodReport{Namespace: "trading", Pod: "api-2", Outcome: OutcomeFailed, Detail: "refresh: agent unreachable: EOF"}
	skipped := PodReport{Namespace: "trading", Pod: "api-3", Outcome: OutcomeSkipped, Detail: "not running (Pending)"}
	dry := PodReport{Namespace: "trading", Pod: "api-1", Outcome: OutcomeDryRun}
	api := Workload{Kind: KindDeployment, Namespace: "trading", Name: "api"}
	db := Workload{Kind: KindStatefulSet, Namespace: "trading", Name: "db"}
	for _, tc := range []struct {
		name        string
		report      Report
		wantSummary string
		wantErr     string
	}{
		{name: "all ok", report: Report{Pods: []PodReport{ok}}, wantSummary: "1 pod: 1 ok, 0 failed"},
		{name: "one failed, one skipped", report: Report{Pods: []PodReport{ok, failed, skipped}},
			wantSummary: "3 pods: 1 ok, 1 failed, 1 skipped",
			wantErr:     "1 of 3 pods failed:\n  trading/api-2: refresh: agent unreachable: EOF"},
		{name: "restarts", report: Report{Pods: []PodReport{ok}, Restarts: []Restart{
			{Workload: api, Outcome: OutcomeOK}, {Workload: db, Outcome: OutcomeFailed, Detail: "patching: forbidden"}}},
			wantSummary: "1 pod: 1 ok, 0 failed; 2 workloads: 1 restarted, 1 failed",
			wantErr:     "1 of 2 workload restarts failed:\n  statefulset.apps/db in trading: patching: forbidden"},
		{name: "a workload left alone is not a failure of its own", report: Report{Pods: []PodReport{failed}, Restarts: []Restart{
			{Workload: api, Outcome: OutcomeSkipped, Detail: "refresh failed in pod api-2"}}},
			wantSummary: "1 pod: 0 ok, 1 failed; 1 workload: 1 not restarted",
			wantErr:     "1 of 1 pod failed:\n  trading/api-2: refresh: agent unreachable: EOF"},
		{name: "dry run", report: Report{DryRun: true, Pods: []PodReport{dry, skipped}, Restarts: []Restart{{Workload: api, Outcome: OutcomeDryRun}}},
			wantSummary: "2 pods: 1 dry-run, 0 failed, 1 skipped; 1 workload: 1 would be restarted (dry run: nothing changed)"},
		{name: "everything skipped", report: Report{Pods: []PodReport{skipped}},
			wantSummary: "1 pod: 0 ok, 0 failed, 1 skipped",
			wantErr:     "nothing done, every selected pod was skipped (failed):\n  trading/api-3: not running (Pending)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.wantSummary, tc.report.Summary()); d != "" {
				t.Errorf("summary (-want +got):\n%s", d)
			}
			err := tc.report.Err()
			got := ""
			if err != nil {
				got = err.Error()
				if !errors.Is(err, ErrFailed) {
					t.Errorf("error %q does not match ErrFailed", err)
				}
			}
			if d := cmp.Diff(tc.wantErr, got); d != "" {
				t.Errorf("error (-want +got):\n%s", d)
			}
		})
	}
}
