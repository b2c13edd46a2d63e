package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/e2e/clusterbed"
)

// watchForLeaks registers values that must appear in no container log and
// no Event of the test's namespaces; they are checked when the namespace
// is deleted.
func (s *suite) watchForLeaks(t *testing.T, values ...string) {
	s.leakMu.Lock()
	defer s.leakMu.Unlock()
	s.leaks[t.Name()] = append(s.leaks[t.Name()], values...)
}

// checkLeaks reads what ns exposes (clusterbed.Exposed: logs, Events,
// metrics, the CLI's status) and fails t for each secret value found.
func (s *suite) checkLeaks(t *testing.T, ns string) {
	s.leakMu.Lock()
	var values []string
	for name, vs := range s.leaks {
		if name == t.Name() || strings.HasPrefix(t.Name(), name+"/") || strings.HasPrefix(name, t.Name()+"/") {
			values = append(values, vs...)
		}
	}
	s.leakMu.Unlock()
	if len(values) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	texts, err := s.Exposed(ctx, ns)
	if err != nil {
		t.Errorf("leak check: %v", err)
		return
	}
	if n := clusterbed.Leaked(texts, values); n > 0 {
		t.Errorf("%d secret values of this test appear in a container log, Event, metrics scrape or status answer of %s", n, ns)
	}
}
