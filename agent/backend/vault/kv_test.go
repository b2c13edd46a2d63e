package vault_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
)

// TestKVReferences covers what a reference selects, on both KV versions:
// the whole secret as a JSON object that the json/env/template formats
// read, one field's raw bytes, and the ways a reference fails closed.
func TestKVReferences(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	root := bed.Root(t)
	for _, version := range []int{1, 2} {
		mount := bed.KVMount(t, version)
		data := map[string]any{
			"ca":   "-----BEGIN CERTIFICATE-----\n<CA & more>\n-----END CERTIFICATE-----\n",
			"key":  backendtest.Sentinel,
			"port": 5432,
			"tls":  true,
		}
		var err error
		if version == 2 {
			_, err = root.KVv2(mount).Put(ctx(t, 10*time.Second), "tradepulse/postgres-tls", data)
		} else {
			err = root.KVv1(mount).Put(ctx(t, 10*time.Second), "tradepulse/postgres-tls", data)
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := tokenBackend(t, bed, bed.Policy(t, kvPolicy(mount, version)))

		tests := []struct {
			name    string
			ref     string
			want    string
			wantErr error
		}{
			{
				name: "whole secret is a JSON object with sorted keys",
				ref:  mount + "/tradepulse/postgres-tls",
				want: `{"ca":"-----BEGIN CERTIFICATE-----\n<CA & more>\n-----END CERTIFICATE-----\n","key":"` + backendtest.Sentinel + `","port":5432,"tls":true}`,
			},
			{name: "string field is raw bytes", ref: mount + "/tradepulse/postgres-tls#key", want: backendtest.Sentinel},
			{name: "number field is JSON", ref: mount + "/tradepulse/postgres-tls#port", want: "5432"},
			{name: "leading slash is accepted", ref: "/" + mount + "/tradepulse/postgres-tls#tls", want: "true"},
			{name: "missing field fails closed", ref: mount + "/tradepulse/postgres-tls#nope", wantErr: backend.ErrNotFound},
			{name: "missing secret fails closed", ref: mount + "/tradepulse/nope", wantErr: backend.ErrNotFound},
			{name: "mount alone fails closed", ref: mount, wantErr: backend.ErrNotFound},
			// A token that may not see a path cannot tell a missing mount
			// from a forbidden one: Vault answers 403 for both.
			{name: "unknown mount fails closed", ref: vaulttest.Unique("nomount-") + "/x", wantErr: backend.ErrDenied},
			{name: "dot-dot fails closed", ref: mount + "/../sys/x", wantErr: backend.ErrNotFound},
			{name: "empty field fails closed", ref: mount + "/tradepulse/postgres-tls#", wantErr: backend.ErrNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name+"/kv"+string(rune('0'+version)), func(t *testing.T) {
				sec, err := b.Fetch(ctx(t, 10*time.Second), tc.ref)
				noLeak(t, err)
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("Fetch(%q) = %v, want %v", tc.ref, err, tc.wantErr)
					}
					if !strings.Contains(err.Error(), tc.ref) {
						t.Errorf("error %q does not name the reference", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Fetch(%q): %v", tc.ref, err)
				}
				if diff := cmp.Diff(tc.want, string(sec.Data)); diff != "" {
					t.Errorf("Fetch(%q) data (-want +got):\n%s", tc.ref, diff)
				}
				if sec.Lease != nil {
					t.Errorf("KV secret came with a lease: %+v", sec.Lease)
				}
			})
		}
	}
}

// TestKV2DataSegmentHint: a reference written with KV v2's data/ segment
// (as in `vault read` or agent templates) fails closed with a hint.
func TestKV2DataSegmentHint(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	mount := bed.KVMount(t, 2)
	if _, err := bed.Root(t).KVv2(mount).Put(ctx(t, 10*time.Second), "app", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	b, _ := tokenBackend(t, bed, bed.Policy(t, kvPolicy(mount, 2)))
	_, err := b.Fetch(ctx(t, 10*time.Second), mount+"/data/app")
	if !errors.Is(err, backend.ErrNotFound) || !strings.Contains(err.Error(), "omit data/") {
		t.Fatalf("Fetch with data/: %v, want ErrNotFound with a hint", err)
	}
}

// TestKV2DeletedVersions: the current version soft-deleted or destroyed
// reads as gone through Fetch and Version; undeleting brings it back.
func TestKV2DeletedVersions(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	mount := bed.KVMount(t, 2)
	kv := bed.Root(t).KVv2(mount)
	b, _ := tokenBackend(t, bed, bed.Policy(t, kvPolicy(mount, 2)))
	ref := mount + "/exchanges/kraken#api-key"
	put := func(v string) {
		if _, err := kv.Put(ctx(t, 10*time.Second), "exchanges/kraken", map[string]any{"api-key": v}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step, wantVersion string, wantErr error) {
		t.Helper()
		sec, err := b.Fetch(ctx(t, 10*time.Second), ref)
		v, verr := b.Version(ctx(t, 10*time.Second), ref)
		if wantErr != nil {
			if !errors.Is(err, wantErr) || !errors.Is(verr, wantErr) {
				t.Fatalf("%s: Fetch %v, Version %v; want %v", step, err, verr, wantErr)
			}
			return
		}
		if err != nil || verr != nil {
			t.Fatalf("%s: Fetch %v, Version %v", step, err, verr)
		}
		if sec.Version != wantVersion || v != wantVersion {
			t.Fatalf("%s: Fetch version %q, Version %q; want %q", step, sec.Version, v, wantVersion)
		}
	}
	put("one")
	put("two")
	check("two versions", "v2", nil)
	if err := kv.Delete(ctx(t, 10*time.Second), "exchanges/kraken"); err != nil {
		t.Fatal(err)
	}
	check("current version deleted", "", backend.ErrNotFound)
	if err := kv.Undelete(ctx(t, 10*time.Second), "exchanges/kraken", []int{2}); err != nil {
		t.Fatal(err)
	}
	check("undeleted", "v2", nil)
	if err := kv.Destroy(ctx(t, 10*time.Second), "exchanges/kraken", []int{2}); err != nil {
		t.Fatal(err)
	}
	check("current version destroyed", "", backend.ErrNotFound)
	put("three")
	check("new version after destroy", "v3", nil)
}

// TestKV2VersionWithoutMetadataAccess: a policy that grants data/ but not
// metadata/ still gets versions, by reading the value, with one warning.
func TestKV2VersionWithoutMetadataAccess(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	mount := bed.KVMount(t, 2)
	if _, err := bed.Root(t).KVv2(mount).Put(ctx(t, 10*time.Second), "mlflow", map[string]any{"v": backendtest.Sentinel}); err != nil {
		t.Fatal(err)
	}
	b, logs := tokenBackend(t, bed, bed.Policy(t, `path "`+mount+`/data/*" { capabilities = ["read"] }`))
	ref := mount + "/mlflow"
	sec, err := b.Fetch(ctx(t, 10*time.Second), ref)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		v, err := b.Version(ctx(t, 10*time.Second), ref)
		if err != nil || v != sec.Version {
			t.Fatalf("Version = %q, %v; want %q", v, err, sec.Version)
		}
	}
	if n := logs.count("secret metadata is not readable; version checks will read the value"); n != 1 {
		t.Errorf("warned %d times, want once", n)
	}
}

// TestKV1VersionIsContent: KV v1 keeps no versions; the version follows
// the content, so rewriting the same value keeps it.
func TestKV1VersionIsContent(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	mount := bed.KVMount(t, 1)
	kv := bed.Root(t).KVv1(mount)
	b, _ := tokenBackend(t, bed, bed.Policy(t, kvPolicy(mount, 1)))
	put := func(v string) {
		if err := kv.Put(ctx(t, 10*time.Second), "wandb", map[string]any{"key": v}); err != nil {
			t.Fatal(err)
		}
	}
	version := func() string {
		s, err := b.Fetch(ctx(t, 10*time.Second), mount+"/wandb#key")
		if err != nil {
			t.Fatal(err)
		}
		return s.Version
	}
	put("a")
	first := version()
	put("a")
	if again := version(); again != first {
		t.Errorf("same value, new version: %q then %q", first, again)
	}
	put("b")
	if changed := version(); changed == first {
		t.Errorf("new value kept version %q", first)
	}
}
