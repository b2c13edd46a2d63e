package charttest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// point is one float sample, what a scrape stores.
type point struct {
	t int64 // milliseconds
	v float64
}

func (p point) T() int64                      { return p.t }
func (p point) ST() int64                     { return 0 }
func (p point) F() float64                    { return p.v }
func (p point) H() *histogram.Histogram       { return nil }
func (p point) FH() *histogram.FloatHistogram { return nil }
func (p point) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (p point) Copy() chunks.Sample           { return p }

// series is one time series of float samples, in time order.
type series struct {
	labels  labels.Labels
	samples []chunks.Sample
}

// seriesSet iterates over series.
type seriesSet struct {
	all []storage.Series
	i   int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i <= len(s.all) }
func (s *seriesSet) At() storage.Series                { return s.all[s.i-1] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// memStorage is the series Prometheus would have scraped, for its real
// PromQL engine to query.
func memStorage(all []series) storage.Queryable {
	return storage.QueryableFunc(func(int64, int64) (storage.Querier, error) {
		return &storage.MockQuerier{SelectMockFunction: func(_ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
			var out []storage.Series
			for _, s := range all {
				if matchesAll(ms, s.labels) {
					out = append(out, storage.NewListSeries(s.labels, s.samples))
				}
			}
			sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels(), out[j].Labels()) < 0 })
			return &seriesSet{all: out}
		}}, nil
	})
}

func matchesAll(ms []*labels.Matcher, l labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(l.Get(m.Name)) {
			return false
		}
	}
	return true
}

// evalAlert evaluates an alerting rule the way Prometheus' rule manager
// does, every interval from start to end: a series the expression returns
// is pending from the first evaluation that returns it, and firing once it
// has been returned for hold; one that drops out is forgotten. It returns
// the label sets firing at end.
func evalAlert(t *testing.T, expr string, hold time.Duration, data []series, start, end time.Time, interval time.Duration) []string {
	t.Helper()
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: 10 * time.Second, LookbackDelta: 5 * time.Minute})
	q := memStorage(data)
	activeAt := map[string]time.Time{}
	var firing []string
	for ts := start; !ts.After(end); ts = ts.Add(interval) {
		qry, err := engine.NewInstantQuery(context.Background(), q, nil, expr, ts)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		res := qry.Exec(context.Background())
		if res.Err != nil {
			t.Fatalf("%q at %s: %v", expr, ts, res.Err)
		}
		vec, err := res.Vector()
		if err != nil {
			t.Fatalf("%q at %s: %v", expr, ts, err)
		}
		qry.Close()
		seen := map[string]bool{}
		firing = firing[:0]
		for _, s := range vec {
			k := s.Metric.String()
			seen[k] = true
			if _, ok := activeAt[k]; !ok {
				activeAt[k] = ts
			}
			if ts.Sub(activeAt[k]) >= hold {
				firing = append(firing, k)
			}
		}
		for k := range activeAt {
			if !seen[k] {
				delete(activeAt, k)
			}
		}
	}
	slices.Sort(firing)
	return firing
}

// gauge is a series scraped every 30s from from to to, valued v(t).
func gauge(lset labels.Labels, from, to time.Time, v func(time.Time) float64) series {
	s := series{labels: lset}
	for ts := from; !ts.After(to); ts = ts.Add(30 * time.Second) {
		s.samples = append(s.samples, point{t: ts.UnixMilli(), v: v(ts)})
	}
	return s
}

func certExpirySeries(pod string, from, to time.Time, notAfter func(time.Time) time.Time) series {
	lset := labels.FromStrings("__name__", "secret_certificate_expiry_timestamp_seconds",
		"namespace", "trading", "pod", pod, "secret", "web-tls", "backend", "vault")
	return gauge(lset, from, to, func(ts time.Time) float64 { return float64(notAfter(ts).Unix()) })
}

// TestCertificateExpiringSoonFires evaluates the rendered
// SecretInjectorCertificateExpiringSoon rule with Prometheus' own PromQL
// engine over the series agents would export: it fires for a certificate
// that was not reissued and is near its NotAfter, and stays quiet for
// healthy ones, including the shortest certificate the default threshold
// covers (3h, reissued at 2/3 with an hour left).
func TestCertificateExpiringSoonFires(t *testing.T) {
	helm := helmBinary(t)
	start := time.Unix(1_800_000_000, 0).UTC()
	end := start.Add(20 * time.Minute)
	fixed := func(at time.Time) func(time.Time) time.Time { return func(time.Time) time.Time { return at } }

	type tc struct {
		name      string
		threshold int // agentCertificateExpirySeconds; 0 keeps the default
		data      []series
		want      []string // pods firing at end
	}
	for _, c := range []tc{
		{name: "not reissued, 50 minutes left", data: []series{certExpirySeries("web-1", start, end, fixed(start.Add(50*time.Minute)))}, want: []string{"web-1"}},
		{name: "healthy 24h certificate at 2/3", data: []series{certExpirySeries("web-1", start, end, fixed(start.Add(8*time.Hour)))}},
		{name: "3h certificate reissued on time", data: []series{certExpirySeries("web-1", start, end, func(ts time.Time) time.Time {
			if ts.Before(start.Add(5 * time.Minute)) {
				return start.Add(65 * time.Minute) // renewAt: a third (1h) left, plus jitter
			}
			return start.Add(5*time.Minute + 3*time.Hour)
		})}},
		{name: "under the threshold for less than 5 minutes, then reissued", data: []series{certExpirySeries("web-1", start, end, func(ts time.Time) time.Time {
			// an hour left at start+15m; reissued at end-1m
			if ts.Before(end.Add(-time.Minute)) {
				return start.Add(75 * time.Minute)
			}
			return end.Add(24 * time.Hour)
		})}},
		{name: "only the failing pod", data: []series{
			certExpirySeries("web-1", start, end, fixed(start.Add(30*time.Minute))),
			certExpirySeries("web-2", start, end, fixed(start.Add(20*time.Hour))),
		}, want: []string{"web-1"}},
		{name: "removed at NotAfter: no series, no alert", data: []series{certExpirySeries("web-1", start, start.Add(10*time.Minute), fixed(start.Add(10*time.Minute)))}},
		{name: "a zero gauge is not an expiry", data: []series{gauge(labels.FromStrings("__name__", "secret_certificate_expiry_timestamp_seconds",
			"namespace", "trading", "pod", "web-1", "secret", "web-tls"), start, end, func(time.Time) float64 { return 0 })}},
		{name: "lowered threshold: 50 minutes left is fine", threshold: 600, data: []series{certExpirySeries("web-1", start, end, fixed(start.Add(50*time.Minute)))}},
		{name: "lowered threshold: under 10 minutes left for 8 minutes fires", threshold: 600, data: []series{certExpirySeries("web-1", start, end, fixed(end.Add(2*time.Minute)))}, want: []string{"web-1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			values := renderCaseNamed(t, "monitoring").values
			if c.threshold != 0 {
				values = map[string]any{"monitoring": map[string]any{"prometheusRule": map[string]any{
					"enabled": true, "agentCertificateExpirySeconds": c.threshold}}}
			}
			rule := alertRules(t, helm, values)["SecretInjectorCertificateExpiringSoon"]
			if rule == nil {
				t.Fatal("no alert SecretInjectorCertificateExpiringSoon")
			}
			hold, err := time.ParseDuration(fmt.Sprint(rule["for"]))
			if err != nil {
				t.Fatalf("for %v: %v", rule["for"], err)
			}
			got := evalAlert(t, rule["expr"].(string), hold, c.data, start, end, time.Minute)
			var want []string
			for _, pod := range c.want {
				want = append(want, fmt.Sprintf(`{backend="vault", namespace="trading", pod=%q, secret="web-tls"}`, pod))
			}
			if !slices.Equal(want, got) {
				t.Errorf("firing at the end:\n got %q\nwant %q", got, want)
			}
		})
	}
}
