package vaulttest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// OpenSSLVerify runs the real openssl binary: the chain in caFile must
// verify certFile, as a user's `openssl verify` would. Without openssl
// the test is skipped, saying so, or fails if CI=true (the bed, through
// hack/vault-bed.sh up, installs it there).
func OpenSSLVerify(t testing.TB, caFile, certFile string) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		msg := "openssl is not installed: the chain is not verified by openssl here"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	out, err := exec.Command(bin, "verify", "-CAfile", caFile, certFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Errorf("openssl verify -CAfile %s %s: %v\n%s", caFile, certFile, err, out)
	}
}
