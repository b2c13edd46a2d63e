package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/agent/admin"
)

// fanout runs one function per pod, at most limit at a time, each under
// its own deadline, and prints a progress line as each pod finishes.
type fanout struct {
	limit    int
	timeout  timeoutFunc
	progress io.Writer // nil: no progress lines
}

type timeoutFunc func(context.Context) (context.Context, context.CancelFunc)

// run returns the reports in the order of pods.
func (f fanout) run(ctx context.Context, pods []*corev1.Pod, fn func(ctx context.Context, pod *corev1.Pod) PodReport) []PodReport {
	reports := make([]PodReport, len(pods))
	sem := make(chan struct{}, f.limit)
	var mu sync.Mutex
	var wg sync.WaitGroup
	done := 0
	for i, pod := range pods {
		if !acquire(ctx, sem) {
			// Interrupted: the pods not started are reported as such.
			reports[i] = PodReport{Namespace: pod.Namespace, Pod: pod.Name, Outcome: OutcomeFailed, Detail: "not started: " + ctx.Err().Error()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pctx, cancel := f.timeout(ctx)
			r := fn(pctx, pod)
			cancel()
			r.Namespace, r.Pod = pod.Namespace, pod.Name
			reports[i] = r
			mu.Lock()
			defer mu.Unlock()
			done++
			if f.progress != nil {
				fmt.Fprintf(f.progress, "[%d/%d] %s: %s%s\n", done, len(pods), r.Name(), outcomeWord(r.Outcome), r.Detail)
			}
		}()
	}
	wg.Wait()
	return reports
}

// acquire takes a slot, unless ctx ends first: once it has ended, no
// pod starts, even if a slot came free at the same moment.
func acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		if ctx.Err() != nil {
			<-sem
			return false
		}
		return true
	case <-ctx.Done():
		return false
	}
}

func outcomeWord(o Outcome) string {
	switch o {
	case OutcomeFailed:
		return "FAILED: "
	case OutcomeSkipped:
		return "skipped: "
	}
	return ""
}

// withAgent dials pod's agent, hands a client for it to fn, and closes the
// way in. A failure to reach the agent is explained by the sidecar's state
// when the pod status says something.
func withAgent(ctx context.Context, d Dialer, pod *corev1.Pod, fn func(*admin.Client) error) error {
	base, closeFn, err := d.Dial(ctx, pod)
	if err != nil {
		return explain(pod, err)
	}
	defer closeFn()
	// A transport of its own: its connections die with the port-forward,
	// and a local port is never sent through a proxy.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	defer tr.CloseIdleConnections()
	return explain(pod, fn(&admin.Client{HTTP: &http.Client{Transport: tr}, BaseURL: base}))
}

// explain adds the sidecar's state to an error that did not come from the
// agent itself.
func explain(pod *corev1.Pod, err error) error {
	var answered *admin.APIError
	if err == nil || errors.As(err, &answered) {
		return err
	}
	if hint := sidecarHint(pod); hint != "" {
		return fmt.Errorf("%w (%s)", err, hint)
	}
	return err
}
