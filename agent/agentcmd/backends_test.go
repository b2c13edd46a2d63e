package agentcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
	"github.com/tradepulse/secret-injector/agent/backend/gcp"
	"github.com/tradepulse/secret-injector/agent/backend/gcp/gcptest"
)

// cloud is one cloud backend's protocol server, seen through the calls the
// agent's loop needs.
type cloud struct {
	name     string
	config   string // the backend block of the agent config
	put      func(ref string, data []byte)
	delete   func(ref string)
	throttle func(on bool)
	calls    func() (version, payload int)
}

func gcpCloud(t *testing.T) cloud {
	srv, err := gcptest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	name := func(ref string) string { return "projects/tradepulse-test/secrets/" + ref }
	return cloud{
		name:     "gcp",
		config:   fmt.Sprintf("{type: gcp, gcp: {project: tradepulse-test, endpoint: %q, insecure: true}}", srv.Addr()),
		put:      func(ref string, data []byte) { srv.Put(name(gcpID(t, ref)), data) },
		delete:   func(ref string) { srv.Delete(name(gcpID(t, ref))) },
		throttle: srv.Throttle,
		calls: func() (int, int) {
			c := srv.Calls()
			return c["GetSecretVersion"], c["AccessSecretVersion"]
		},
	}
}

func gcpID(t *testing.T, ref string) string {
	t.Helper()
	id, err := gcp.SecretID(ref)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func awsCloud(t *testing.T) cloud {
	srv := awstest.NewServer()
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
	t.Setenv("AWS_REGION", "us-east-1")
	return cloud{
		name:     "aws",
		config:   fmt.Sprintf("{type: aws, aws: {region: us-east-1, endpoint: %q}}", srv.URL()),
		put:      func(ref string, data []byte) { srv.Put(ref, data, false) },
		delete:   srv.Delete,
		throttle: srv.Throttle,
		calls: func() (int, int) {
			c := srv.Calls()
			return c["DescribeSecret"], c["GetSecretValue"]
		},
	}
}

// TestAgentAgainstCloudProtocolServers runs the real agent, with the real
// SDK clients, against the in-process protocol servers: files written and
// split, steady-state cost, throttling backs off and keeps the last good
// value, a deleted secret fails closed and recovers.
func TestAgentAgainstCloudProtocolServers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent for several refresh intervals in real time")
	}
	for _, mk := range []func(*testing.T) cloud{gcpCloud, awsCloud} {
		c := mk(t)
		t.Run(c.name, func(t *testing.T) {
			const key, tls = "tradepulse/exchanges/binance/api-key", "tradepulse/postgres-tls"
			c.put(key, []byte("key-1"))
			c.put(tls, []byte(`{"ca":"CA","cert":"CERT","key":"KEY"}`))

			dir := t.TempDir()
			adminAddr := freePort(t)
			cfg := fmt.Sprintf(`version: secrets.tradepulse.io/v1
backend: %s
mountPath: %s
refreshInterval: 1s
adminAddr: %s
metricsAddr: %s
secrets:
  - {name: api-key, ref: %s}
  - {name: postgres-tls, ref: %s, format: json, fields: {ca: ca.crt, cert: tls.crt, key: tls.key}}
`, c.config, dir, adminAddr, freePort(t), key, tls)
			path := dir + ".yaml"
			os.WriteFile(path, []byte(cfg), 0o600)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() { done <- run(ctx, []string{"agent", "--config", path, "--log-format", "text"}) }()
			defer func() {
				cancel()
				if code := <-done; code != 0 {
					t.Errorf("agent exited %d", code)
				}
			}()
			file := func(p string) string { b, _ := os.ReadFile(dir + "/" + p); return string(b) }
			status := func() map[string]admin.SecretStatus {
				var s admin.Status
				json.Unmarshal([]byte(get(t, "http://"+adminAddr+"/v1/status")), &s)
				m := map[string]admin.SecretStatus{}
				for _, sec := range s.Secrets {
					m[sec.Name] = sec
				}
				return m
			}
			waitFor(t, 10*time.Second, func() bool { return file("postgres-tls/tls.key") == "KEY" && file("api-key") == "key-1" })

			// Steady state: one small version call per secret per interval, no payload.
			v0, p0 := c.calls()
			time.Sleep(5 * time.Second)
			v1, p1 := c.calls()
			t.Logf("%s: %d version calls and %d payload calls for 2 secrets in 5 intervals", c.name, v1-v0, p1-p0)
			if p1 != p0 {
				t.Errorf("%d payload downloads while nothing changed", p1-p0)
			}
			if n := v1 - v0; n < 6 || n > 14 {
				t.Errorf("%d version calls for 2 secrets over 5 intervals, want about 10", n)
			}

			// Rotation within one interval.
			c.put(key, []byte("key-2"))
			waitFor(t, 3*time.Second, func() bool { return file("api-key") == "key-2" })

			// Throttling: bounded retries, last good kept, status 0, then back.
			c.throttle(true)
			v0, p0 = c.calls()
			time.Sleep(4 * time.Second)
			v1, p1 = c.calls()
			if n := (v1 - v0) + (p1 - p0); n > 24 {
				t.Errorf("%d requests in 4s of throttling for 2 secrets: not backing off", n)
			}
			if file("api-key") != "key-2" || file("postgres-tls/tls.crt") != "CERT" {
				t.Error("throttling lost the last good value")
			}
			if s := status()["api-key"]; s.OK || s.LastError == "" {
				t.Errorf("api-key status while throttled: %+v", s)
			}
			c.throttle(false)
			waitFor(t, 5*time.Second, func() bool { return status()["api-key"].OK })

			// Deleted: fail closed; recreated: back.
			c.delete(key)
			waitFor(t, 5*time.Second, func() bool { _, err := os.Stat(dir + "/api-key"); return os.IsNotExist(err) })
			if s := status()["api-key"]; s.OK || s.Result != "not_found" {
				t.Errorf("api-key status after delete: %+v", s)
			}
			c.put(key, []byte("key-3"))
			waitFor(t, 5*time.Second, func() bool { return file("api-key") == "key-3" })
		})
	}
}
