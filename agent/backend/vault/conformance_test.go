package vault_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
)

// kvHarness runs the conformance suite against a fresh KV mount of the
// given version. The suite stores raw bytes: each lands in a secret's
// "value" field, and the reference selects that field. Deny rewrites the
// backend's policy to deny the path; Vault applies it to live tokens.
func kvHarness(t *testing.T, version int) backendtest.Harness {
	bed := vaulttest.Bed(t)
	root := bed.Root(t)
	mount := bed.KVMount(t, version)
	policy := bed.Policy(t, kvPolicy(mount, version))
	b, _ := tokenBackend(t, bed, policy)

	// path turns a reference back into the secret's path in the mount.
	path := func(ref string) string {
		return strings.TrimSuffix(strings.TrimPrefix(ref, mount+"/"), "#value")
	}
	return backendtest.Harness{
		Backend: b,
		Ref:     func(p string) string { return mount + "/" + p + "#value" },
		Put: func(t *testing.T, ref string, data []byte) {
			var err error
			if version == 2 {
				_, err = root.KVv2(mount).Put(ctx(t, 10*time.Second), path(ref), map[string]any{"value": string(data)})
			} else {
				err = root.KVv1(mount).Put(ctx(t, 10*time.Second), path(ref), map[string]any{"value": string(data)})
			}
			if err != nil {
				t.Fatalf("put %s: %v", ref, err)
			}
		},
		Delete: func(t *testing.T, ref string) {
			var err error
			if version == 2 {
				err = root.KVv2(mount).DeleteMetadata(ctx(t, 10*time.Second), path(ref))
			} else {
				err = root.KVv1(mount).Delete(ctx(t, 10*time.Second), path(ref))
			}
			if err != nil {
				t.Fatalf("delete %s: %v", ref, err)
			}
		},
		Deny: func(t *testing.T, ref string, denied bool) {
			rules := kvPolicy(mount, version)
			if denied {
				rules += denyRules(mount, version, path(ref))
			}
			bed.SetPolicy(t, policy, rules)
		},
	}
}

func denyRules(mount string, version int, p string) string {
	if version == 2 {
		return `path "` + mount + `/data/` + p + `" { capabilities = ["deny"] }
path "` + mount + `/metadata/` + p + `" { capabilities = ["deny"] }
`
	}
	return `path "` + mount + `/` + p + `" { capabilities = ["deny"] }
`
}

func TestConformanceKV2(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, kvHarness(t, 2))
}

func TestConformanceKV1(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, kvHarness(t, 1))
}
