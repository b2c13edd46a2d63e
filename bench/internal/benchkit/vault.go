package benchkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/internal/testkit"
)

// Bed is the Vault test bed as hack/vault-bed.sh's env file describes it.
type Bed struct {
	Addr, RootToken, VaultBin, DBMount, DBConnection string
	Root                                             *api.Client
}

// OpenBed reads the bed's environment; it fails when the bed is not up.
func OpenBed() (*Bed, error) {
	env, _ := testkit.ReadVaultBed()
	b := &Bed{Addr: env.Addr, RootToken: env.RootToken, VaultBin: env.VaultBin,
		DBMount: env.DBMount, DBConnection: env.DBConnection}
	// The benchmarks need the bed's Vault alone, not its PostgreSQL access.
	if b.Addr == "" || b.RootToken == "" || b.VaultBin == "" || b.DBMount == "" || b.DBConnection == "" {
		return nil, errors.New("vault test bed not configured: " + testkit.VaultBedHint)
	}
	cfg := api.DefaultConfig()
	cfg.Address = b.Addr
	cfg.MaxRetries = 2
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(b.RootToken)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Sys().HealthWithContext(ctx); err != nil {
		return nil, fmt.Errorf("vault test bed at %s does not answer: %w", b.Addr, err)
	}
	b.Root = c
	return b, nil
}

// Fixture is what one benchmark creates in Vault under a unique name: KV v2
// secrets under secret/<ID>/, a database role <ID>, a policy <ID> reading
// both, and an AppRole role <ID> on the bed's auth/approle mount. Cleanup
// removes all of it and revokes the role's leases.
type Fixture struct {
	bed       *Bed
	ID        string
	KVRefs    []string // "secret/<ID>/sNN"
	DBRole    string   // database role name
	CredsPath string   // <mount>/creds/<role>
	// LeaseRefs are the credentials paths of AddLeaseRoles' roles.
	LeaseRefs    []string
	RoleIDFile   string
	SecretIDFile string
}

// OpenFixture opens the bed (OpenBed) and creates a fixture on it
// (NewFixture). Defer the fixture's Cleanup before checking err: a fixture
// that failed half way holds what it had created.
func OpenFixture(ctx context.Context, dir string, kv int, defaultTTL, maxTTL time.Duration) (*Bed, *Fixture, error) {
	b, err := OpenBed()
	if err != nil {
		return nil, nil, err
	}
	f, err := b.NewFixture(ctx, dir, kv, defaultTTL, maxTTL)
	return b, f, err
}

// Unique returns prefix plus random hex.
func Unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// NewFixture creates kv KV v2 secrets and a database role with the given
// TTLs; files for AppRole credentials go in dir.
func (b *Bed) NewFixture(ctx context.Context, dir string, kv int, defaultTTL, maxTTL time.Duration) (*Fixture, error) {
	f := &Fixture{bed: b, ID: Unique("bench-")}
	f.DBRole = f.ID
	f.CredsPath = b.DBMount + "/creds/" + f.DBRole
	lg := b.Root.Logical()
	for i := range kv {
		ref := fmt.Sprintf("secret/%s/s%02d", f.ID, i)
		val := make([]byte, 24)
		_, _ = rand.Read(val)
		if _, err := lg.WriteWithContext(ctx, fmt.Sprintf("secret/data/%s/s%02d", f.ID, i),
			map[string]any{"data": map[string]any{"value": hex.EncodeToString(val)}}); err != nil {
			return f, fmt.Errorf("write kv %s: %w", ref, err)
		}
		f.KVRefs = append(f.KVRefs, ref)
	}
	if err := f.writeRole(ctx, f.DBRole, defaultTTL, maxTTL); err != nil {
		return f, err
	}
	if err := b.Root.Sys().PutPolicyWithContext(ctx, f.ID, f.policy()); err != nil {
		return f, fmt.Errorf("write policy: %w", err)
	}
	if _, err := lg.WriteWithContext(ctx, "auth/approle/role/"+f.ID, map[string]any{
		"token_policies": f.ID, "token_ttl": "1h", "token_max_ttl": "4h",
	}); err != nil {
		return f, fmt.Errorf("create approle role: %w", err)
	}
	rid, err := lg.ReadWithContext(ctx, "auth/approle/role/"+f.ID+"/role-id")
	if err != nil || rid == nil {
		return f, fmt.Errorf("read role id: %v", err)
	}
	sid, err := lg.WriteWithContext(ctx, "auth/approle/role/"+f.ID+"/secret-id", nil)
	if err != nil || sid == nil {
		return f, fmt.Errorf("create secret id: %v", err)
	}
	f.RoleIDFile = filepath.Join(dir, "role-id")
	f.SecretIDFile = filepath.Join(dir, "secret-id")
	if err := os.WriteFile(f.RoleIDFile, []byte(fmt.Sprint(rid.Data["role_id"])), 0o600); err != nil {
		return f, err
	}
	if err := os.WriteFile(f.SecretIDFile, []byte(fmt.Sprint(sid.Data["secret_id"])), 0o600); err != nil {
		return f, err
	}
	return f, nil
}

// policy reads the fixture's KV secrets and credentials, and revokes its
// leases.
func (f *Fixture) policy() string {
	return fmt.Sprintf(`path "secret/data/%[1]s/*" { capabilities = ["read"] }
path "secret/metadata/%[1]s/*" { capabilities = ["read"] }
path "%[2]s" { capabilities = ["read"] }
path "sys/leases/revoke/%[2]s/*" { capabilities = ["update"] }
path "%[3]s/creds/%[1]s-*" { capabilities = ["read"] }
path "sys/leases/revoke/%[3]s/creds/%[1]s-*" { capabilities = ["update"] }
`, f.ID, f.CredsPath, f.bed.DBMount)
}

// AddLeaseRoles creates n more database roles, <ID>-NNNN, with the given
// TTLs, whose credentials paths (LeaseRefs) the fixture's AppRole may
// read: one lease per path, so that vault agent, which reads a path once
// however many templates name it, holds n leases as our agent does.
func (f *Fixture) AddLeaseRoles(ctx context.Context, n int, defaultTTL, maxTTL time.Duration) error {
	refs := make([]string, n)
	err := f.parallel(n, func(i int) error {
		role := fmt.Sprintf("%s-%04d", f.ID, i)
		refs[i] = f.bed.DBMount + "/creds/" + role
		return f.writeRole(ctx, role, defaultTTL, maxTTL)
	})
	f.LeaseRefs = refs
	return err
}

// parallel runs fn(0..n-1), 8 at a time, and returns the first error.
func (f *Fixture) parallel(n int, fn func(i int) error) error {
	sem := make(chan struct{}, 8)
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- fn(i)
		}()
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// RevokeLeases revokes every lease of the fixture's database role and
// waits for it (the PostgreSQL roles are dropped).
func (f *Fixture) RevokeLeases(ctx context.Context) error {
	return f.bed.Root.Sys().RevokeWithOptionsWithContext(ctx, &api.RevokeOptions{LeaseID: f.CredsPath, Prefix: true, Sync: true})
}

// writeRole creates a database role whose credentials are a PostgreSQL
// role, dropped when the lease is revoked.
func (f *Fixture) writeRole(ctx context.Context, role string, defaultTTL, maxTTL time.Duration) error {
	_, err := f.bed.Root.Logical().WriteWithContext(ctx, f.bed.DBMount+"/roles/"+role, map[string]any{
		"db_name": f.bed.DBConnection,
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
GRANT CONNECT ON DATABASE postgres TO "{{name}}";`,
		// The grant must go before the role can be dropped (SQLSTATE 2BP01).
		"revocation_statements": `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';
REVOKE ALL ON DATABASE postgres FROM "{{name}}";
DROP ROLE IF EXISTS "{{name}}";`,
		"default_ttl": defaultTTL.String(),
		"max_ttl":     maxTTL.String(),
	})
	if err != nil {
		return fmt.Errorf("create database role %s: %w", role, err)
	}
	return nil
}

// RevokeLeaseRoles revokes every lease of AddLeaseRoles' roles and waits
// for it (their PostgreSQL roles are dropped).
func (f *Fixture) RevokeLeaseRoles(ctx context.Context) error {
	return f.parallel(len(f.LeaseRefs), func(i int) error {
		return f.bed.Root.Sys().RevokeWithOptionsWithContext(ctx, &api.RevokeOptions{LeaseID: f.LeaseRefs[i], Prefix: true, Sync: true})
	})
}

// Cleanup revokes the leases and deletes what NewFixture created. A nil
// Fixture (OpenFixture found no bed) has nothing to clean up.
func (f *Fixture) Cleanup() {
	if f == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lg := f.bed.Root.Logical()
	_ = f.RevokeLeases(ctx)
	_ = f.RevokeLeaseRoles(ctx)
	_ = f.parallel(len(f.LeaseRefs), func(i int) error {
		_, err := lg.DeleteWithContext(ctx, f.bed.DBMount+"/roles/"+strings.TrimPrefix(f.LeaseRefs[i], f.bed.DBMount+"/creds/"))
		return err
	})
	_, _ = lg.DeleteWithContext(ctx, f.bed.DBMount+"/roles/"+f.DBRole)
	_, _ = lg.DeleteWithContext(ctx, "auth/approle/role/"+f.ID)
	_ = f.bed.Root.Sys().DeletePolicyWithContext(ctx, f.ID)
	for _, ref := range f.KVRefs {
		_, _ = lg.DeleteWithContext(ctx, "secret/metadata/"+ref[len("secret/"):])
	}
}
