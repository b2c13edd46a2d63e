package webhook

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/webhook/certs"
)

func TestWriteCertDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	p := certs.Policy{Hosts: []string{"h.ns.svc"}}.WithDefaults()
	first, err := certs.Reconcile(certs.Bundle{}, time.Now(), p)
	if err != nil {
		t.Fatal(err)
	}
	// A plain file left by an earlier mode is replaced by the link layout.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(b certs.Bundle) {
		t.Helper()
		for name, want := range map[string][]byte{"tls.crt": b.Cert, "tls.key": b.Key, "ca.crt": b.CACerts} {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: err=%v, content matches=%v", name, err, bytes.Equal(got, want))
			}
			if target, err := os.Readlink(filepath.Join(dir, name)); err != nil || target != filepath.Join("..data", name) {
				t.Errorf("%s links to %q (%v), want ..data/%s", name, target, err, name)
			}
		}
		info, err := os.Stat(filepath.Join(dir, "tls.key"))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("tls.key mode = %v (%v), want 0600", info.Mode().Perm(), err)
		}
		entries, _ := os.ReadDir(dir)
		gens := 0
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "..tls-") {
				gens++
			}
		}
		if gens != 1 {
			t.Errorf("%d generations left in the dir, want 1", gens)
		}
	}
	if changed, err := writeCertDir(dir, first.Bundle); err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	check(first.Bundle)
	if changed, err := writeCertDir(dir, first.Bundle); err != nil || changed {
		t.Fatalf("same bundle again: changed=%v err=%v", changed, err)
	}
	second, err := certs.Reconcile(certs.Bundle{}, time.Now(), p)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := writeCertDir(dir, second.Bundle); err != nil || !changed {
		t.Fatalf("new bundle: changed=%v err=%v", changed, err)
	}
	check(second.Bundle)
}
