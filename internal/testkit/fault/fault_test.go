package fault

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestInjectorRecordsCallsAndFaults(t *testing.T) {
	var in Injector
	if got := in.Record("Get"); got != (Faults{}) {
		t.Errorf("zero Injector injects %+v, want nothing", got)
	}
	in.Throttle(true)
	in.FailWith("InternalServiceError")
	in.SetLatency(time.Second)
	want := Faults{Throttle: true, Fail: "InternalServiceError", Latency: time.Second}
	if got := in.Record("Get"); got != want {
		t.Errorf("Record = %+v, want %+v", got, want)
	}
	in.Record("Put")
	calls := in.Calls()
	if diff := cmp.Diff(map[string]int{"Get": 2, "Put": 1}, calls); diff != "" {
		t.Errorf("Calls (-want +got):\n%s", diff)
	}
	calls["Get"] = 99
	if got := in.Calls()["Get"]; got != 2 {
		t.Errorf("changing the map Calls returned changed the count to %d: want a copy", got)
	}
	in.Throttle(false)
	in.FailWith("")
	in.SetLatency(0)
	if got := in.Current(); got != (Faults{}) {
		t.Errorf("after lifting every fault, Current = %+v", got)
	}
	in.ResetCalls()
	if got := in.Calls(); len(got) != 0 {
		t.Errorf("after ResetCalls, Calls = %v", got)
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := (Faults{Latency: time.Hour}).Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on an ended context = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Wait took %s after its context ended", d)
	}
	if err := (Faults{Latency: time.Millisecond}).Wait(context.Background()); err != nil {
		t.Errorf("Wait = %v, want nil once the latency passed", err)
	}
}
