// Package fault is the fault injection and call counting that the
// in-process cloud fakes (awstest, gcptest) share: a switch that makes
// every call answer the service's throttling error, an error code every
// call answers with, a delay before every answer, and a count of calls per
// operation. Each fake maps these onto its own protocol (an AWS JSON error,
// a gRPC status); what is injected, and when, is decided once, here.
package fault

import (
	"context"
	"maps"
	"sync"
	"time"
)

// Injector holds the faults a fake injects into every call and counts the
// calls. Its methods are safe for concurrent use; the zero value injects
// nothing and has counted nothing.
type Injector struct {
	mu    sync.Mutex
	now   Faults
	calls map[string]int
}

// Faults are the faults in force for a call.
type Faults struct {
	// Throttle makes the call answer the service's throttling error.
	Throttle bool
	// Fail is an error code the call answers with; "" for none. Throttle
	// takes precedence.
	Fail string
	// Latency delays the answer.
	Latency time.Duration
}

// Throttle turns throttling on or off.
func (in *Injector) Throttle(on bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.now.Throttle = on
}

// FailWith makes every call answer code; "" serves normally again.
func (in *Injector) FailWith(code string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.now.Fail = code
}

// SetLatency delays every answer by d; 0 answers at once.
func (in *Injector) SetLatency(d time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.now.Latency = d
}

// Current returns the faults in force now.
func (in *Injector) Current() Faults {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.now
}

// Record counts a call to op and returns the faults in force for it.
func (in *Injector) Record(op string) Faults {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.calls == nil {
		in.calls = map[string]int{}
	}
	in.calls[op]++
	return in.now
}

// Calls returns how many calls each operation received since the last
// ResetCalls: a copy, which the caller may keep.
func (in *Injector) Calls() map[string]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.calls == nil {
		return map[string]int{}
	}
	return maps.Clone(in.calls)
}

// ResetCalls forgets the counted calls.
func (in *Injector) ResetCalls() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.calls = nil
}

// Wait waits out f.Latency. It returns ctx's error, at once, when ctx
// ends first: the client gave up, and its call gets no answer.
func (f Faults) Wait(ctx context.Context) error {
	if f.Latency <= 0 {
		return nil
	}
	t := time.NewTimer(f.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
