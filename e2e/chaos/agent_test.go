package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/e2e/clusterbed"
	"github.com/tradepulse/secret-injector/injector"
)

// The sidecar SIGKILLed while it rewrites the file every second, three
// times, and restarted by the kubelet: the file is always one whole
// value that was written, the state resumes (the same database lease, no
// new one), and Vault holds no lease that no agent holds.
func TestAgentKilledMidWrite(t *testing.T) {
	s := need(t)
	r := s.record(t, "the agent SIGKILLed 3 times while rewriting its files every second, restarted by the kubelet",
		"every sample of the file is one whole written value; the state resumes; every replaced lease is revoked, none left behind")
	ctx := vaulttest.Context(t, 8*time.Minute)
	f := s.newFleet(t, ctx, "kill", 1, map[string]string{"refresh-interval": "1s"})
	pod, before := f.running[0], f.users

	// A new value every 500 ms; every value written is a whole file the
	// app may see.
	var mu sync.Mutex
	written := map[string]bool{clusterbed.SHA256(f.value): true}
	wctx, stopWriting := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for wctx.Err() == nil {
			v := s.secret("chaos-" + strconv.FormatUint(rand.Uint64(), 36))
			mu.Lock()
			written[clusterbed.SHA256(v)] = true
			mu.Unlock()
			_ = s.Bed.Backends["vault"].Put(wctx, f.kvPath, []byte(v), false)
			select {
			case <-wctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	samples, torn := 0, 0
	wg.Go(func() {
		for wctx.Err() == nil {
			files, err := clusterbed.AppFiles(wctx, pod)
			if err == nil {
				mu.Lock()
				samples++
				if a, ok := files["api"]; !ok || !written[a.SHA256] {
					torn++
				}
				mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	const kills = 3
	for i := range kills {
		time.Sleep(time.Duration(1000+rand.IntN(2000)) * time.Millisecond)
		pid, err := agentPID(pod.Name)
		if err != nil {
			stopWriting()
			wg.Wait()
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %d: %v", pid, err)
		}
		if err := s.waitSidecarRestarts(ctx, pod, int32(i+1)); err != nil {
			stopWriting()
			wg.Wait()
			t.Fatal(err)
		}
	}
	time.Sleep(3 * time.Second)
	stopWriting()
	wg.Wait()
	r.saw(t, "killed %d times; %d samples of the file, %d not a whole written value", kills, samples, torn)
	if torn > 0 {
		t.Errorf("%d of %d samples of the file were missing or not a value that was written", torn, samples)
	}
	// Each restarted sidecar replaces the lease it inherits (the killed
	// one's token is renewed by nobody) and revokes the old one after the
	// grace, even when it was killed before: none is left behind.
	after, _ := f.waitDB(t, ctx, []corev1.Pod{pod}, time.Minute)
	r.saw(t, "the app logs in (%s)", sameOrNew(before, after))
	f.waitNoLeftovers(t, ctx, 90*time.Second)
	r.saw(t, "no lease left behind")
	f.waitStatusOK(t, ctx, time.Minute)
}

// agentPID finds the host pid of the sidecar agent of pod: the process
// running `secret-injector… agent --mode sidecar` whose HOSTNAME is the
// pod's name.
func agentPID(pod string) (int, error) {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		cmdline, err := os.ReadFile(dir + "/cmdline")
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(argv) < 4 || !strings.HasPrefix(filepath.Base(argv[0]), "secret-injector") || argv[1] != "agent" ||
			!strings.Contains(strings.Join(argv[2:], " "), "--mode sidecar") {
			continue
		}
		environ, err := os.ReadFile(dir + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, environ...), []byte("\x00HOSTNAME="+pod+"\x00")) {
			continue
		}
		return strconv.Atoi(filepath.Base(dir))
	}
	return 0, fmt.Errorf("no sidecar agent process of pod %s on this host", pod)
}

// waitSidecarRestarts waits until the kubelet has restarted pod's sidecar
// n times and it is started again.
func (s *suite) waitSidecarRestarts(ctx context.Context, pod corev1.Pod, n int32) error {
	var last string
	err := clusterbed.Poll(ctx, 2*time.Minute, func() (bool, error) {
		p, err := s.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		cs := clusterbed.ContainerStatus(*p, injector.SidecarName)
		if cs == nil {
			return false, nil
		}
		last = fmt.Sprintf("restarts %d, ready %v", cs.RestartCount, cs.Ready)
		return cs.RestartCount >= n && cs.State.Running != nil && cs.Ready, nil
	})
	if err != nil {
		return fmt.Errorf("the kubelet did not restart the sidecar (%s): %w", last, err)
	}
	return nil
}

// A secret larger than the secrets volume (4 MiB, its sizeLimit): the
// agent says so, and the app keeps the last good file.
func TestPayloadLargerThanVolume(t *testing.T) {
	s := need(t)
	r := s.record(t, "a 5.3 MiB secret, larger than the 4 MiB secrets volume",
		"the last good file is kept; status names the secret and says the volume is full; a normal value afterwards is written")
	ctx := vaulttest.Context(t, 5*time.Minute)
	vb := s.Bed.Backends["vault"]
	bigPath := "chaos/payload-" + strconv.FormatUint(rand.Uint64(), 36) + "/big"
	small := s.secret("chaos-small-" + strconv.FormatUint(rand.Uint64(), 36))
	if err := vb.Put(ctx, bigPath, []byte(`{"v":"`+small+`"}`), true); err != nil {
		t.Fatal(err)
	}
	f := s.newFleet(t, ctx, "payload", 1, map[string]string{"secret-big": vb.Ref(bigPath, true), "format-big": "json"})
	pods := f.running
	// Format json writes a file per field: big/v.
	if got := fileSHA(t, ctx, pods[0], "big/v"); got != clusterbed.SHA256(small) {
		t.Fatalf("big/v is not the value written before the pod started")
	}
	// Vault caps one JSON string near 1 MiB: six fields of 900 KiB.
	marker := s.secret("chaos-big-" + strconv.FormatUint(rand.Uint64(), 36))
	fields := map[string]string{}
	for i := range 6 {
		fields[fmt.Sprintf("f%d", i)] = marker + strings.Repeat("x", 900<<10)
	}
	big, _ := json.Marshal(fields)
	if err := vb.Put(ctx, bigPath, big, true); err != nil {
		t.Fatal(err)
	}
	var lastErr string
	err := clusterbed.Poll(ctx, time.Minute, func() (bool, error) {
		rep, err := f.status(ctx)
		if err != nil || len(rep.Pods) == 0 || rep.Pods[0].Status == nil {
			return false, nil
		}
		for _, sec := range rep.Pods[0].Status.Secrets {
			if sec.Name == "big" && !sec.OK && sec.LastError != "" {
				lastErr = sec.LastError
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatal("status never showed the big secret failing")
	}
	r.saw(t, "status: %q", lastErr)
	if !strings.Contains(lastErr, "big") || !strings.Contains(strings.ToLower(lastErr), "volume") {
		t.Errorf("the error %q does not name the secret and the volume", lastErr)
	}
	for range 5 {
		if got := fileSHA(t, ctx, pods[0], "big/v"); got != clusterbed.SHA256(small) {
			t.Fatal("the last good file was not kept")
		}
		if err := apiHeld(ctx, pods, f.value); err != nil {
			t.Fatalf("the other secret's file was not kept: %v", err)
		}
		time.Sleep(2 * time.Second)
	}
	r.saw(t, "last good files kept")
	small = s.secret("chaos-small-" + strconv.FormatUint(rand.Uint64(), 36))
	if err := vb.Put(ctx, bigPath, []byte(`{"v":"`+small+`"}`), true); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := clusterbed.Poll(ctx, time.Minute, func() (bool, error) {
		return fileSHA(t, ctx, pods[0], "big/v") == clusterbed.SHA256(small), nil
	}); err != nil {
		t.Fatal("a normal value was not written after the big one")
	}
	r.saw(t, "a normal value written %s after it was put", time.Since(start).Round(100*time.Millisecond))
	f.waitStatusOK(t, ctx, time.Minute)
}

func fileSHA(t *testing.T, ctx context.Context, p corev1.Pod, name string) string {
	t.Helper()
	files, err := clusterbed.AppFiles(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	return files[name].SHA256
}
