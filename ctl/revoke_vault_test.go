package ctl_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/injector"
)

// dbCreds are the PostgreSQL credentials an agent wrote.
type dbCreds struct{ user, password string }

func readCreds(t *testing.T, a *agentProc) dbCreds {
	t.Helper()
	read := func(field string) string {
		b, err := os.ReadFile(filepath.Join(a.dir, "secrets", "db", field))
		if err != nil {
			t.Fatalf("agent %s wrote no %s: %v", a.addr, field, err)
		}
		return strings.TrimSpace(string(b))
	}
	return dbCreds{read("username"), read("password")}
}

// TestRevokeLeavesOldDatabaseCredentialsUnusable is the runbook's
// emergency revocation: agents hold dynamic PostgreSQL credentials from
// the real Vault bed; after `revoke` every selected pod's old login is
// refused by PostgreSQL and its new one works, and an unselected pod keeps
// its credentials.
func TestRevokeLeavesOldDatabaseCredentialsUnusable(t *testing.T) {
	needBed(t)
	v := vaulttest.Bed(t)
	ref := v.DBMount + "/creds/" + dbRole(t, v)
	policy := v.Policy(t, fmt.Sprintf(`
path %q { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke/%s/*" { capabilities = ["update"] }
`, ref, ref))
	token := v.Token(t, 0, policy)

	ns := namespace(t, "ledger")
	db := app{annotations: map[string]string{
		injector.AnnotationInject: "true", injector.AnnotationBackend: "vault",
		injector.AnnotationSecretPrefix + "db": ref, injector.AnnotationFormatPrefix + "db": "json",
	}}
	_, ledger := db.deployment(t, ns, "ledger", 2)
	_, reporting := db.deployment(t, ns, "reporting", 1)

	d := newLocalDialer()
	agents := map[string]*agentProc{}
	for _, pod := range append(ledger, reporting...) {
		dir := t.TempDir()
		a := startAgent(t, dir, fmt.Sprintf(`
backend:
  type: vault
  vault: {address: %q, auth: token}
secrets:
  - {name: db, ref: %q, format: json}
`, v.Addr, ref), []string{"VAULT_TOKEN=" + token})
		d.add(pod, a.addr)
		agents[pod.Name] = a
	}
	ctx := testContext(t)
	old := map[string]dbCreds{}
	for name, a := range agents {
		waitFor(t, func() bool {
			st := agentStatus(t, a.addr)
			return len(st.Secrets) == 1 && st.Secrets[0].OK && st.Secrets[0].Lease != nil
		})
		old[name] = readCreds(t, a)
		if err := v.PGLogin(ctx, old[name].user, old[name].password); err != nil {
			t.Fatalf("%s: the agent's credentials do not work before the revoke: %v", name, err)
		}
	}

	r := run(t, d, nil, "revoke", "-n", ns, "-l", "app=ledger", "--secret", "db")
	if r.err != nil {
		t.Fatalf("revoke failed:\n%s", r)
	}
	for _, c := range old {
		if strings.Contains(r.stdout+r.stderr, c.password) {
			t.Errorf("a password reached the output:\n%s", r)
		}
	}
	for _, pod := range ledger {
		c := old[pod.Name]
		if err := v.PGLogin(ctx, c.user, c.password); err == nil {
			t.Errorf("%s: the old login %s still works after revoke", pod.Name, c.user)
		}
		fresh := readCreds(t, agents[pod.Name])
		if fresh.user == c.user {
			t.Errorf("%s: still holds the revoked login %s", pod.Name, c.user)
		}
		if err := v.PGLogin(ctx, fresh.user, fresh.password); err != nil {
			t.Errorf("%s: the fresh credentials do not work: %v", pod.Name, err)
		}
		if !containsRow(r.stdout, ns, pod.Name, "db") {
			t.Errorf("no table row for %s's secret db:\n%s", pod.Name, r.stdout)
		}
	}
	if c := old[reporting[0].Name]; v.PGLogin(ctx, c.user, c.password) != nil {
		t.Errorf("the unselected pod %s lost its login", reporting[0].Name)
	}
	if !strings.HasSuffix(r.stderr, "2 pods: 2 ok, 0 failed\n") {
		t.Errorf("stderr does not end with the summary:\n%s", r.stderr)
	}
}

// revocationStatements drop the login after revoking the CONNECT grant
// of vaulttest.CreationStatements, which PostgreSQL counts as a dependency
// that makes a bare DROP ROLE fail (and the revocation with it).
const revocationStatements = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';
REVOKE ALL PRIVILEGES ON DATABASE postgres FROM "{{name}}";
DROP ROLE IF EXISTS "{{name}}";`

// dbRole creates a database role for dynamic PostgreSQL credentials and
// returns its name. It and its leases are removed when the test ends.
func dbRole(t *testing.T, v *vaulttest.Env) string {
	t.Helper()
	root := v.Root(t)
	name := vaulttest.Unique("ctl-")
	path := v.DBMount + "/roles/" + name
	_, err := root.Logical().WriteWithContext(testContext(t), path, map[string]any{
		"db_name": v.DBConnection, "creation_statements": vaulttest.CreationStatements,
		"revocation_statements": revocationStatements, "default_ttl": "2m", "max_ttl": "10m",
	})
	if err != nil {
		t.Fatalf("create database role %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = root.Sys().RevokeWithOptionsWithContext(ctx, &api.RevokeOptions{LeaseID: v.DBMount + "/creds/" + name, Prefix: true, Sync: true})
		_, _ = root.Logical().DeleteWithContext(ctx, path)
	})
	return name
}

// containsRow says whether a table has a row starting with cells.
func containsRow(out string, cells ...string) bool {
	prefix := strings.Join(cells, " ") + " "
	for _, l := range normalize(out) {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
