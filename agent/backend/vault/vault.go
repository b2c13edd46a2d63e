// Package vault reads secrets from HashiCorp Vault: KV (versions 1 and 2)
// and dynamic secrets that come with a lease (database credentials), which
// it renews and revokes.
//
// # References
//
// A reference is a Vault path, optionally followed by #field:
//
//	secret/tradepulse/postgres-tls          a KV secret: its data as a JSON object
//	secret/tradepulse/exchanges/x#api-key   one field: a string's bytes as they are
//	database/creds/app                      leased credentials: {"password":…,"username":…}
//
// KV paths are written as `vault kv get` takes them: the mount, then the
// secret's path, without KV v2's data/ segment (the backend detects each
// mount's KV version once and inserts it). A whole secret is its data
// encoded as a JSON object with sorted keys, so that the json, env and
// template formats work on it; a field that is not a string is its JSON
// encoding. Any other path is read as is; when the response carries a lease
// the secret has a Lease.
//
// # Versions
//
//   - KV v2: "v<version>" (Version reads only the metadata; if the policy
//     does not grant read on <mount>/metadata/, it reads the value instead).
//     A version that is deleted or destroyed reads as gone.
//   - KV v1: the first 16 hex digits of the HMAC-SHA256 of the bytes
//     returned, under the key New is given (backend.VersionKey). KV v1 keeps
//     no versions, so Version reads the value.
//   - leased secrets: the lease ID. Version answers ErrNotVersioned without
//     a call: asking again would issue new credentials. Leases are kept by
//     KeepAlive instead.
//   - other unleased paths: the keyed form, as for KV v1.
//
// # Authentication
//
// The backend logs in at New and keeps its token: it renews it while Vault
// allows (api.LifetimeWatcher), and logs in anew when it cannot (at the
// token's max TTL), or when a call is refused because the token is no
// longer valid. Vault revokes a token's leases when the token expires, so a
// lease's KeepAlive ends (the caller fetches anew) when the token that
// issued the lease is replaced.
//
// Only this package imports the Vault API client.
package vault

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/config"
)

// Authentication methods (config.VaultBackend.Auth).
const (
	AuthKubernetes = "kubernetes"
	// AuthJWT is Vault's jwt auth method fed the pod's projected
	// service-account token: Vault verifies it offline against the
	// cluster's service-account issuer, without TokenReview calls to the
	// API server (which Vault may not be able to reach).
	AuthJWT     = "jwt"
	AuthAppRole = "approle"
	AuthToken   = "token"
)

// DefaultTokenPath is the service-account token Kubernetes mounts into
// every pod; Kubernetes auth reads it unless config.VaultBackend.TokenPath
// says otherwise.
const DefaultTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// DefaultTimeout bounds every call whose context carries no deadline,
// including the renewals api.LifetimeWatcher makes.
const DefaultTimeout = 10 * time.Second

// ErrNotVersioned is Version's answer for a secret that has no version
// cheaper than fetching it anew (leased credentials): fetch to learn it.
// It is transient in the backend.FailsClosed sense.
var ErrNotVersioned = backend.ErrNotVersioned

// Backend reads secrets from Vault. It is safe for concurrent use.
type Backend struct {
	base *api.Client // configured, without a token
	auth authenticator
	log  *slog.Logger
	key  backend.VersionKey

	mounts mountCache

	loginMu sync.Mutex // one login at a time
	mu      sync.Mutex
	sess    *session
	// leases maps a lease ID to the session whose token issued it.
	leases map[string]*session
	// denied holds the KV v2 secrets (path → true) whose metadata this
	// token may not read: Version reads their value instead. Each is
	// stored once and read at every check, what sync.Map is for.
	denied sync.Map

	// renewals keeps the leases KeepAlive is given.
	renewals *renewer

	// alive ends at Close; done is closed when the token keeper and the
	// renewer have stopped.
	alive     context.Context
	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var (
	_ backend.Backend     = (*Backend)(nil)
	_ backend.Versioner   = (*Backend)(nil)
	_ backend.LeaseKeeper = (*Backend)(nil)
	_ backend.LeaseHolder = (*Backend)(nil)
	_ backend.Closer      = (*Backend)(nil)
)

// New connects to the Vault cfg describes, logs in, and keeps the token
// alive in the background until Close. key keys the versions of KV v1 and
// other unleased secrets; nil means a random key of this process's own. A
// nil log discards.
func New(ctx context.Context, cfg config.VaultBackend, key backend.VersionKey, log *slog.Logger) (*Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	apiCfg := api.DefaultConfig() // reads VAULT_ADDR, VAULT_CACERT, … from the environment
	if apiCfg.Error != nil {
		return nil, fmt.Errorf("vault backend: %w", apiCfg.Error)
	}
	if cfg.Address != "" {
		apiCfg.Address = cfg.Address
	}
	if cfg.CACert != "" {
		if err := apiCfg.ConfigureTLS(&api.TLSConfig{CACert: cfg.CACert}); err != nil {
			return nil, fmt.Errorf("vault backend: caCert %s: %w", cfg.CACert, err)
		}
	}
	// The agent retries with its own backoff; a call here is one request.
	apiCfg.MaxRetries = 0
	apiCfg.Timeout = DefaultTimeout
	client, err := api.NewClient(apiCfg)
	if err != nil {
		return nil, fmt.Errorf("vault backend: %w", err)
	}
	envToken := client.Token() // VAULT_TOKEN, for token auth only
	client.ClearToken()
	if cfg.Namespace != "" {
		client.SetNamespace(cfg.Namespace)
	}
	auth, err := newAuthenticator(cfg, envToken)
	if err != nil {
		return nil, fmt.Errorf("vault backend: %w", err)
	}
	b := &Backend{
		base:   client,
		auth:   auth,
		log:    log,
		key:    key.OrNew(),
		leases: map[string]*session{},
		done:   make(chan struct{}),
	}
	s, err := b.login(ctx)
	if err != nil {
		return nil, fmt.Errorf("vault backend: %w", err)
	}
	b.sess = s
	b.renewals = newRenewer(b.renewLease)
	b.alive, b.stop = context.WithCancel(context.Background())
	go func() {
		defer close(b.done)
		var wg sync.WaitGroup
		wg.Go(func() { b.renewals.run(b.alive) })
		b.keepToken(b.alive)
		wg.Wait()
	}()
	return b, nil
}

// Close stops renewing the token. It does not revoke the token, nor the
// leases it issued: they may live on in a sidecar that resumed them, and
// the sidecar revokes its own at shutdown when
// config.VaultBackend.RevokeOnShutdown says so. Close is idempotent.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.stop()
		<-b.done
	})
	return nil
}

func (b *Backend) current() *session {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sess
}

// trackLease remembers which session issued a lease.
func (b *Backend) trackLease(id string, s *session) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.leases[id] = s
}

func (b *Backend) leaseSession(id string) *session {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.leases[id]
}

func (b *Backend) forgetLease(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.leases, id)
}

// withDeadline keeps the caller's deadline, or sets DefaultTimeout.
func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// authPath normalises an auth mount: "kubernetes", "/auth/kubernetes/"
// and "auth/kubernetes" all mean "auth/kubernetes".
func authPath(p, method string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		p = method
	}
	if !strings.HasPrefix(p, "auth/") {
		p = "auth/" + p
	}
	return p
}
