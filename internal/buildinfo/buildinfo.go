// Package buildinfo says which build of secret-injector is running: the
// version, commit and build date the Makefile and Dockerfile stamp with
// -ldflags -X, falling back to what the Go toolchain records in the binary
// (runtime/debug.ReadBuildInfo: the module version, vcs.revision and
// vcs.time of a build from a git checkout). Both binaries print it
// (`version`) and export it as the secret_injector_build_info gauge, so
// that a dashboard can tell which agents and webhooks run which build.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stamped at build time (Makefile LDFLAGS, Dockerfile):
//
//	-X github.com/tradepulse/secret-injector/internal/buildinfo.version=v1.2.3
//	-X github.com/tradepulse/secret-injector/internal/buildinfo.commit=<git sha>
//	-X github.com/tradepulse/secret-injector/internal/buildinfo.date=<unix seconds or RFC 3339>
//
// date is the commit's time (SOURCE_DATE_EPOCH), not the clock's, so that
// the same commit builds the same bytes.
var version, commit, date string

// Unknown stands for a field neither stamped nor recorded by the toolchain.
const Unknown = "unknown"

// Info is one build's identity. Its JSON is `version -o json`.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns this binary's build info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

// resolve prefers the stamped values and fills the rest from bi (nil when
// the binary carries no build info).
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	i := Info{Version: version, Commit: commit, Date: normalizeDate(date),
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if i.Commit == "" {
					i.Commit = s.Value
				}
			case "vcs.time":
				if i.Date == "" {
					i.Date = s.Value
				}
			case "vcs.modified":
				// A build from a dirty tree is not the commit it names.
				if s.Value == "true" && commit == "" && i.Commit != "" {
					i.Commit += "-dirty"
				}
			}
		}
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	if i.Commit == "" {
		i.Commit = Unknown
	}
	if i.Date == "" {
		i.Date = Unknown
	}
	return i
}

// normalizeDate turns a stamped Unix time (SOURCE_DATE_EPOCH) into RFC
// 3339 in UTC; anything else is kept as stamped.
func normalizeDate(s string) string {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC().Format(time.RFC3339)
	}
	return s
}

// MetricName is the build info gauge both binaries export.
const MetricName = "secret_injector_build_info"

// Collector is the secret_injector_build_info gauge: always 1, labelled
// with the build's version, commit and Go version, the Prometheus
// convention for joining a build onto other series
// (`* on(pod) group_left(version) secret_injector_build_info`).
func Collector(i Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        MetricName,
		Help:        "Always 1; the labels say which build of secret-injector this process runs.",
		ConstLabels: prometheus.Labels{"version": i.Version, "commit": i.Commit, "go_version": i.GoVersion},
	})
	g.Set(1)
	return g
}
