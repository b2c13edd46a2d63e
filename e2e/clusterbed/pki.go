package clusterbed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/injector"
)

// VaultPKI is a PKI engine of the bed's Vault for one test: a root CA, a
// role that issues, a policy allowing only that issue path, and a
// Kubernetes auth role granting the policy to the pods' service account
// of one namespace, which a pod names in its vault-role annotation. The
// bed's own auth role and policy stay as they are, so tests running beside
// it are not affected.
type VaultPKI struct {
	*vaulttest.PKI
	// Ref is the role's issuing path, <mount>/issue/<role>: a certificate
	// secret's reference.
	Ref string
	// AuthRole is the Kubernetes auth role (on the bed's auth mount) that
	// logs the namespace's pods in with the issue policy.
	AuthRole string
}

// NewVaultPKI sets up a VaultPKI for the pods of namespace ns, the PKI
// role written with role's parameters (allowed_domains, allow_subdomains,
// max_ttl, …). Everything is removed when t ends.
func (c *Cluster) NewVaultPKI(t testing.TB, ns string, role map[string]any) *VaultPKI {
	t.Helper()
	v := c.Bed.Vault
	if v == nil {
		t.Fatalf("vault bed absent: %s", bed.VaultEnvHint)
	}
	pki := v.Env.PKIMount(t)
	ref := pki.Role(t, role)
	policy := v.Env.Policy(t, vaulttest.IssuePolicy(ref))
	authRole := vaulttest.Unique("pki-")
	path := v.AuthPath + "/role/" + authRole
	// As the bed's own role: bound to the pods' service account (here in
	// ns only), for the chart's audience.
	if _, err := v.Root.Logical().WriteWithContext(vaulttest.Context(t, 30*time.Second), path, map[string]any{
		"bound_service_account_names": bed.PodServiceAccount, "bound_service_account_namespaces": ns,
		"audience": injector.DefaultVaultAudience, "token_policies": policy, "token_ttl": "1h",
	}); err != nil {
		t.Fatalf("write kubernetes auth role %s: %v", path, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = v.Root.Logical().DeleteWithContext(ctx, path)
	})
	return &VaultPKI{PKI: pki, Ref: ref, AuthRole: authRole}
}

// IssuedPEM is the certificate with serial number serial (colon or dash
// separated hex) as the PKI engine stored it when it issued it: public,
// so the test can read what the pod holds without the pod handing out a
// file's content.
func (p *VaultPKI) IssuedPEM(ctx context.Context, c *Cluster, serial string) (string, error) {
	sec, err := c.Bed.Vault.Root.Logical().ReadWithContext(ctx, p.Mount+"/cert/"+serial)
	if err != nil {
		return "", fmt.Errorf("read %s/cert/%s: %w", p.Mount, serial, err)
	}
	if sec == nil || sec.Data == nil {
		return "", fmt.Errorf("%s holds no certificate %s", p.Mount, serial)
	}
	pem, _ := sec.Data["certificate"].(string)
	if pem == "" {
		return "", fmt.Errorf("%s/cert/%s has no certificate field", p.Mount, serial)
	}
	return pem, nil
}

// IssuedSerials lists the serial numbers the PKI engine stored (the root
// CA's among them).
func (p *VaultPKI) IssuedSerials(ctx context.Context, c *Cluster) ([]string, error) {
	sec, err := c.Bed.Vault.Root.Logical().ListWithContext(ctx, p.Mount+"/certs")
	if err != nil {
		return nil, fmt.Errorf("list %s/certs: %w", p.Mount, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, nil
	}
	keys, _ := sec.Data["keys"].([]any)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if s, ok := k.(string); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// CLIJSON runs the operator's secret-injector command with args (which
// should ask for -o json) and decodes its standard output into into. The
// command's failure (a non-zero exit, e.g. status with a failing secret)
// is returned after the decoding, with its standard error.
func (c *Cluster) CLIJSON(ctx context.Context, into any, args ...string) error {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.Binary, append(args, "--kubeconfig", c.Kubeconfig)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if err := json.Unmarshal(stdout.Bytes(), into); err != nil {
		return fmt.Errorf("secret-injector %s: output is not JSON (%v; exit: %v): %s", strings.Join(args, " "), err, runErr, bytes.TrimSpace(stderr.Bytes()))
	}
	if runErr != nil {
		return fmt.Errorf("secret-injector %s: %w: %s", strings.Join(args, " "), runErr, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// MetricValue finds the sample of metric name whose labels include every
// one of labels in a Prometheus text scrape; ok is false when there is
// none.
func MetricValue(scrape, name string, labels map[string]string) (v float64, ok bool, err error) {
	sc := bufio.NewScanner(strings.NewReader(scrape))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		rest, found := strings.CutPrefix(line, name+"{")
		if !found {
			continue
		}
		set, value, found := strings.Cut(rest, "} ")
		if !found {
			continue
		}
		for k, want := range labels {
			if !strings.Contains(","+set+",", ","+k+"="+strconv.Quote(want)+",") {
				continue next
			}
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			return 0, false, fmt.Errorf("metric line %q has no value", line)
		}
		f, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, false, fmt.Errorf("metric line %q: %w", line, err)
		}
		return f, true, nil
	}
	return 0, false, sc.Err()
}
