package vaulttest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// cleanupTimeout bounds each removal at the end of a test.
const cleanupTimeout = 10 * time.Second

// KVMount mounts a fresh KV engine of the given version (1 or 2) and
// returns its path, without a trailing slash. It is unmounted when the test
// ends.
func (e *Env) KVMount(t testing.TB, version int) string {
	t.Helper()
	root := e.Root(t)
	path := Unique(fmt.Sprintf("kv%d-", version))
	err := root.Sys().MountWithContext(Context(t, cleanupTimeout), path, &api.MountInput{
		Type:    "kv",
		Options: map[string]string{"version": fmt.Sprint(version)},
	})
	if err != nil {
		t.Fatalf("mount kv v%d at %s: %v", version, path, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		_ = root.Sys().UnmountWithContext(ctx, path)
	})
	// A new KV v2 mount upgrades its storage in the background and
	// answers 400 until it is done.
	if version == 2 {
		e.waitKV2(t, root, path)
	}
	return path
}

func (e *Env) waitKV2(t testing.TB, root *api.Client, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := root.KVv2(path).Put(Context(t, cleanupTimeout), "vaulttest-ready", map[string]any{"ok": "1"})
		if err == nil {
			_ = root.KVv2(path).DeleteMetadata(Context(t, cleanupTimeout), "vaulttest-ready")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kv v2 mount %s not ready: %v", path, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Policy writes an ACL policy under a unique name and returns the name. It
// is deleted when the test ends. Rewriting it (SetPolicy) takes effect on
// tokens that hold it at once.
func (e *Env) Policy(t testing.TB, rules string) string {
	t.Helper()
	name := Unique("p-")
	e.SetPolicy(t, name, rules)
	root := e.Root(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		_ = root.Sys().DeletePolicyWithContext(ctx, name)
	})
	return name
}

// SetPolicy writes (or rewrites) policy name.
func (e *Env) SetPolicy(t testing.TB, name, rules string) {
	t.Helper()
	if err := e.Root(t).Sys().PutPolicyWithContext(Context(t, cleanupTimeout), name, rules); err != nil {
		t.Fatalf("write policy %s: %v", name, err)
	}
}

// Token creates a token with the given policies (and the default one) and
// the given TTL (0: the server's default), and returns it.
func (e *Env) Token(t testing.TB, ttl time.Duration, policies ...string) string {
	t.Helper()
	req := &api.TokenCreateRequest{Policies: policies}
	if ttl > 0 {
		req.TTL = ttl.String()
	}
	sec, err := e.Root(t).Auth().Token().CreateWithContext(Context(t, cleanupTimeout), req)
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	return sec.Auth.ClientToken
}

// WriteFile writes content into a new file in the test's temporary
// directory, mode 0600, and returns its path.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// AppRole enables AppRole at a unique auth mount with one role holding
// policies; params add to the role (e.g. token_ttl, token_max_ttl). It
// returns the mount ("auth/<path>") and files holding the role ID and a
// reusable secret ID. The mount is disabled when the test ends.
func (e *Env) AppRole(t testing.TB, params map[string]any, policies ...string) (mount, roleIDFile, secretIDFile string) {
	t.Helper()
	root := e.Root(t)
	path := Unique("approle-")
	ctx := Context(t, cleanupTimeout)
	if err := root.Sys().EnableAuthWithOptionsWithContext(ctx, path, &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatalf("enable approle at %s: %v", path, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		_ = root.Sys().DisableAuthWithContext(ctx, path)
	})
	role := map[string]any{"token_policies": policies}
	for k, v := range params {
		role[k] = v
	}
	if _, err := root.Logical().WriteWithContext(ctx, "auth/"+path+"/role/app", role); err != nil {
		t.Fatalf("approle role: %v", err)
	}
	id, err := root.Logical().ReadWithContext(ctx, "auth/"+path+"/role/app/role-id")
	if err != nil {
		t.Fatalf("approle role-id: %v", err)
	}
	sid, err := root.Logical().WriteWithContext(ctx, "auth/"+path+"/role/app/secret-id", nil)
	if err != nil {
		t.Fatalf("approle secret-id: %v", err)
	}
	return "auth/" + path,
		WriteFile(t, "role-id", fmt.Sprint(id.Data["role_id"])),
		WriteFile(t, "secret-id", fmt.Sprint(sid.Data["secret_id"]))
}

// RevokeLogins revokes every token issued through an auth mount
// ("auth/<path>"), as an operator would after a compromise, and waits
// until it is done.
func (e *Env) RevokeLogins(t testing.TB, mount string) {
	t.Helper()
	err := e.Root(t).Sys().RevokeWithOptionsWithContext(Context(t, cleanupTimeout),
		&api.RevokeOptions{LeaseID: mount + "/login", Prefix: true, Sync: true})
	if err != nil {
		t.Fatalf("revoke logins of %s: %v", mount, err)
	}
}
