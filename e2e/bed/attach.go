package bed

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
	"github.com/tradepulse/secret-injector/agent/backend/gcp/gcptest"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
)

// AttachOptions tune Attach.
type AttachOptions struct {
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// Vault is the Vault to configure; nil takes the Vault bed's from the
	// environment (hack/vault-bed.sh env).
	Vault *vaulttest.Env
	// DBTTL and DBMaxTTL are the database role's lease TTLs; zero takes
	// DBDefaultTTL and DBMaxTTL.
	DBTTL, DBMaxTTL time.Duration
}

// Attach gives a suite that brings its own cluster (e2e/cluster: a real
// node, the chart installed with helm) the same backends as Start: the
// protocol servers it passes, an env backend writing ConfigMaps through
// client, and — when the Vault bed's environment is set — Vault configured
// with Kubernetes auth against cfg's API server. The webhook is the
// suite's own; Bed.Binary and the webhook fields stay empty.
func Attach(ctx context.Context, cfg *rest.Config, gcp *gcptest.Server, aws *awstest.Server, o AttachOptions) (*Bed, func(), error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	// Vault checks pods' tokens against this API server and needs its CA
	// as data; a kubeconfig names it as a file.
	if err := rest.LoadTLSFiles(cfg); err != nil {
		return nil, nil, fmt.Errorf("API server CA: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	b := &Bed{Config: cfg, Client: client, GCP: gcp, AWS: aws, Backends: map[string]Backend{}}
	b.Backends["gcp"] = gcpBackend{gcp}
	b.Backends["aws"] = awsBackend{aws}
	b.Backends["env"] = &envBackend{client: client, vars: map[string]string{}, nss: map[string]bool{}}
	ve, missing := o.Vault, []string(nil)
	if ve == nil {
		ve, missing = vaultEnv()
	}
	if ve == nil {
		b.VaultMissing = missing
		fmt.Fprintf(log, "  no Vault bed (%s unset): %s\n", strings.Join(missing, ", "), VaultEnvHint)
		return b, func() {}, nil
	}
	fmt.Fprintf(log, "configuring Vault at %s: Kubernetes auth against %s, KV v2, a PostgreSQL role\n", ve.Addr, cfg.Host)
	v, cleanup, err := setupVault(ctx, b, ve, o.DBTTL, o.DBMaxTTL)
	if err != nil {
		return nil, nil, err
	}
	b.Vault = v
	b.Backends["vault"] = &vaultBackend{v}
	return b, cleanup, nil
}
