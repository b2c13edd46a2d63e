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
//     returned, under Options.VersionKey (backend.VersionKey). KV v1 keeps
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
)

// Authentication methods (Options.Auth).
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
// every pod; Kubernetes auth reads it unless Options.TokenPath says
// otherwise.
const DefaultTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// DefaultTimeout bounds every call whose context carries no deadline,
// including the renewals api.LifetimeWatcher makes.
const DefaultTimeout = 10 * time.Second

// ErrNotVersioned is Version's answer for a secret that has no version
// cheaper than fetching it anew (leased credentials): fetch to learn it.
// It is transient in the backend.FailsClosed sense.
var ErrNotVersioned = backend.ErrNotVersioned

// Options configures a Backend. It mirrors config.VaultBackend; empty
// fields fall back to the standard VAULT_* environment variables
// (VAULT_ADDR, VAULT_NAMESPACE, VAULT_CACERT, VAULT_TOKEN, …).
type Options struct {
	Address   string
	Namespace string
	// CACert is a PEM bundle for Vault's TLS certificate.
	CACert string
	// Auth is "kubernetes", "jwt", "approle" or "token". Empty means
	// kubernetes when Role is set, approle when RoleIDPath is, else token.
	Auth string
	// AuthPath is the auth method's mount, e.g. "auth/kubernetes"
	// (default "auth/<Auth>").
	AuthPath string
	// Role is the Kubernetes or JWT auth role.
	Role string
	// TokenPath is the service-account token for Kubernetes and JWT auth
	// (default DefaultTokenPath), read at every login because it rotates. With
	// token auth it names a file holding the Vault token; empty means
	// VAULT_TOKEN, then ~/.vault-token.
	TokenPath string
	// RoleIDPath and SecretIDPath hold AppRole credentials.
	RoleIDPath   string
	SecretIDPath string
	// RevokeOnShutdown is kept for the agent, which revokes its leases at
	// shutdown through Revoke. Close itself never revokes the token: leases
	// it issued may live on in a sidecar that resumed them.
	RevokeOnShutdown bool
	// VersionKey keys the versions of KV v1 and other unleased secrets;
	// nil means a random key of this process's own.
	VersionKey backend.VersionKey
}

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
	// metadataDenied holds the KV v2 secrets whose metadata this token may
	// not read: Version reads their value instead.
	metadataDenied map[string]bool

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

// New connects to Vault, logs in, and keeps the token alive in the
// background until Close. A nil log discards.
func New(ctx context.Context, opts Options, log *slog.Logger) (*Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := api.DefaultConfig() // reads VAULT_ADDR, VAULT_CACERT, … from the environment
	if cfg.Error != nil {
		return nil, fmt.Errorf("vault backend: %w", cfg.Error)
	}
	if opts.Address != "" {
		cfg.Address = opts.Address
	}
	if opts.CACert != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: opts.CACert}); err != nil {
			return nil, fmt.Errorf("vault backend: caCert %s: %w", opts.CACert, err)
		}
	}
	// The agent retries with its own backoff; a call here is one request.
	cfg.MaxRetries = 0
	cfg.Timeout = DefaultTimeout
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault backend: %w", err)
	}
	envToken := client.Token() // VAULT_TOKEN, for token auth only
	client.ClearToken()
	if opts.Namespace != "" {
		client.SetNamespace(opts.Namespace)
	}
	auth, err := newAuthenticator(opts, envToken)
	if err != nil {
		return nil, fmt.Errorf("vault backend: %w", err)
	}
	key := opts.VersionKey
	if len(key) == 0 {
		key = backend.NewVersionKey()
	}
	b := &Backend{
		base:           client,
		auth:           auth,
		log:            log,
		key:            key,
		leases:         map[string]*session{},
		metadataDenied: map[string]bool{},
		done:           make(chan struct{}),
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

// Close stops renewing the token. It does not revoke it (see
// Options.RevokeOnShutdown). Close is idempotent.
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
