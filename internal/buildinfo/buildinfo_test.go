package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestResolve(t *testing.T) {
	goVersion, platform := runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH
	fromGit := &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.time", Value: "2026-11-01T10:00:00Z"}, {Key: "vcs.modified", Value: "false"}}}
	dirty := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		{"stamped by the Makefile", "v1.2.3", "fedcba9", "1764504000", fromGit,
			Info{Version: "v1.2.3", Commit: "fedcba9", Date: "2025-11-30T12:00:00Z"}},
		{"stamped date in RFC 3339", "v1.2.3", "fedcba9", "2026-01-02T03:04:05Z", nil,
			Info{Version: "v1.2.3", Commit: "fedcba9", Date: "2026-01-02T03:04:05Z"}},
		{"from the toolchain", "", "", "", fromGit,
			Info{Version: "v0.2.0", Commit: "0123abc", Date: "2026-11-01T10:00:00Z"}},
		{"a dirty tree", "", "", "", dirty,
			Info{Version: "dev", Commit: "0123abc-dirty", Date: Unknown}},
		{"nothing known", "", "", "", nil,
			Info{Version: "dev", Commit: Unknown, Date: Unknown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.GoVersion, tc.want.Platform = goVersion, platform
			if d := cmp.Diff(tc.want, resolve(tc.version, tc.commit, tc.date, tc.bi)); d != "" {
				t.Errorf("info (-want +got):\n%s", d)
			}
		})
	}
}

func TestCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector(Info{Version: "v1.2.3", Commit: "fedcba9", GoVersion: "go1.26.0"}))
	want := `
# HELP secret_injector_build_info Always 1; the labels say which build of secret-injector this process runs.
# TYPE secret_injector_build_info gauge
secret_injector_build_info{commit="fedcba9",go_version="go1.26.0",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
