package agent

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradepulse/secret-injector/agent/sink"
)

// smallVolume refuses payloads above max bytes, as a tmpfs at its size
// limit does.
type smallVolume struct {
	Volume
	max int
}

func (v smallVolume) Write(files []sink.File) (bool, error) {
	n := 0
	for _, f := range files {
		n += len(f.Data)
	}
	if n > v.max {
		return false, &os.PathError{Op: "write", Path: "/secrets/..data/api-key", Err: syscall.ENOSPC}
	}
	return v.Volume.Write(files)
}

// A secret too big for the volume: its file keeps the last good value,
// its status says why (a full volume, named as such), and it does not
// hold back the other secrets' updates.
func TestSecretTooBigForTheVolumeKeepsTheLastGoodFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		seed(f)
		h := newHarness(t, f, f, nil)
		h.agent.volume = smallVolume{Volume: h.agent.volume, max: 64 << 10}
		stop := h.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		h.mustRead("api-key", "key-"+sentinel)

		f.set("tradepulse/exchanges/binance/api-key", strings.Repeat("k", 100<<10))
		f.set("tradepulse/mlflow", `{"MLFLOW_TRACKING_URI":"http://mlflow:5001"}`)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		h.mustRead("api-key", "key-"+sentinel)
		if got, _ := h.read("mlflow.env"); !strings.Contains(got, "mlflow:5001") {
			t.Errorf("mlflow.env = %q: the other secret's update was held back", got)
		}
		for _, st := range h.agent.Status().Secrets {
			if st.Name != "api-key" {
				continue
			}
			if st.OK || !strings.Contains(st.LastError, "api-key") || !strings.Contains(st.LastError, "volume is full") {
				t.Errorf("api-key status = ok %v, error %q; want failed, naming the secret and the full volume", st.OK, st.LastError)
			}
		}
		if v := h.gauge("secret_rotation_status", "api-key"); v != 0 {
			t.Errorf("secret_rotation_status{secret=api-key} = %v, want 0", v)
		}
	})
}
