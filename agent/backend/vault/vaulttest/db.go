package vaulttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// CreationStatements and RevocationStatements are what the bed's database
// roles run: a login role, and on revocation its grant taken back (a
// role that holds a grant cannot be dropped), the end of its sessions and
// the role itself, so that a revoked login visibly fails.
const (
	CreationStatements = `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
GRANT CONNECT ON DATABASE postgres TO "{{name}}";`
	RevocationStatements = `REVOKE ALL PRIVILEGES ON DATABASE postgres FROM "{{name}}";
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';
DROP ROLE IF EXISTS "{{name}}";`
)

// DBRole creates a database role on the bed's connection with the given
// TTLs and returns its name; credentials come from
// <DBMount>/creds/<name>. It is deleted when the test ends.
func (e *Env) DBRole(t testing.TB, defaultTTL, maxTTL time.Duration) string {
	t.Helper()
	root := e.Root(t)
	name := Unique("r-")
	path := e.DBMount + "/roles/" + name
	_, err := root.Logical().WriteWithContext(Context(t, cleanupTimeout), path, map[string]any{
		"db_name":               e.DBConnection,
		"creation_statements":   CreationStatements,
		"revocation_statements": RevocationStatements,
		"default_ttl":           defaultTTL.String(),
		"max_ttl":               maxTTL.String(),
	})
	if err != nil {
		t.Fatalf("create database role %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		// Revoke what the test left behind, then the role.
		_ = root.Sys().RevokeWithOptionsWithContext(ctx, &api.RevokeOptions{
			LeaseID: e.DBMount + "/creds/" + name, Prefix: true, Sync: true,
		})
		_, _ = root.Logical().DeleteWithContext(ctx, path)
	})
	return name
}

// PGLogin logs into the bed's PostgreSQL as user with password and runs
// SELECT current_user, which must name user. The password travels in the
// environment, never on a command line or in the error.
func (e *Env) PGLogin(ctx context.Context, user, password string) error {
	out, err := e.psql(ctx, user, password, "SELECT current_user")
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(out); got != user {
		return fmt.Errorf("logged in as %q, want %q", got, user)
	}
	return nil
}

// PGQuery runs sql as the bed's superuser and returns psql's unaligned,
// tuples-only output.
func (e *Env) PGQuery(ctx context.Context, sql string) (string, error) {
	return e.psql(ctx, e.PGUser, e.PGPassword, sql)
}

func (e *Env) psql(ctx context.Context, user, password, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.PSQL,
		"-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
		"-h", e.PGHost, "-p", e.PGPort, "-U", user, "-d", e.PGDatabase, "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=5", "PGSSLMODE=disable")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if password != "" {
			msg = strings.ReplaceAll(msg, password, "<password>")
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", errors.New("psql as " + user + ": " + msg)
	}
	return stdout.String(), nil
}

// RoleExists says whether PostgreSQL has a role named role: a revoked
// lease's role must be gone.
func (e *Env) RoleExists(ctx context.Context, role string) (bool, error) {
	out, err := e.PGQuery(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = '"+strings.ReplaceAll(role, "'", "''")+"'")
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(out) != "0", nil
}
