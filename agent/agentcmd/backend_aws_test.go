//go:build !agent_noaws

package agentcmd

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
	"github.com/tradepulse/secret-injector/agent/config"
)

// TestAgentAssumesRoleNamedAfterItsPod: the agent in init mode, given a
// role in its config and its pod from the downward-API variables the
// injector sets, assumes the role with a session named after the pod and
// reads the secret with the role's credentials (the server accepts no
// other).
func TestAgentAssumesRoleNamedAfterItsPod(t *testing.T) {
	const role = "arn:aws:iam::111122223333:role/tradepulse-secrets-reader"
	srv := awstest.NewServer()
	t.Cleanup(srv.Close)
	srv.Put("tradepulse/exchanges/kraken/api-key", []byte("key-1"), false)
	srv.AddRole(role)
	srv.RequireRole(role)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL())
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv(config.PodNameEnvVar, "execution-7d9f8-x2k4q")
	t.Setenv(config.PodNamespaceEnvVar, "trading")

	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: secrets.tradepulse.io/v1
backend: {type: aws, aws: {region: us-east-1, endpoint: %q, roleARN: %q}}
mountPath: %s
adminAddr: %s
metricsAddr: %s
secrets:
  - {name: api-key, ref: tradepulse/exchanges/kraken/api-key}
`, srv.URL(), role, dir, freePort(t), freePort(t))
	path := dir + ".yaml"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), []string{"agent", "--mode", "init", "--config", path, "--log-format", "text"}); code != 0 {
		t.Fatalf("agent exited %d", code)
	}
	if b, _ := os.ReadFile(dir + "/api-key"); string(b) != "key-1" {
		t.Fatalf("api-key = %q, want key-1", b)
	}
	var sessions []string
	for _, r := range srv.Requests() {
		if r.Operation == "AssumeRole" {
			sessions = append(sessions, r.RoleARN+" as "+r.RoleSessionName)
		}
	}
	if want := role + " as trading.execution-7d9f8-x2k4q"; len(sessions) != 1 || sessions[0] != want {
		t.Errorf("AssumeRole calls %q, want one: %s", sessions, want)
	}
}
