package vault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/config"
)

// authenticator obtains a token. Credentials are read from their files at
// every login: projected service-account tokens and rotated AppRole
// secret IDs change under a running agent.
type authenticator struct {
	method   string
	path     string // auth mount, e.g. "auth/kubernetes"; empty for token
	role     string
	jwtPath  string
	roleID   string
	secretID string
	// token auth
	tokenPath string
	envToken  string
}

func newAuthenticator(cfg config.VaultBackend, envToken string) (authenticator, error) {
	method := cfg.Auth
	if method == "" {
		switch {
		case cfg.Role != "":
			method = AuthKubernetes
		case cfg.RoleIDPath != "":
			method = AuthAppRole
		default:
			method = AuthToken
		}
	}
	a := authenticator{method: method}
	switch method {
	case AuthKubernetes, AuthJWT:
		// Both present the pod's service-account token with a role: the
		// kubernetes method has Vault ask the API server (TokenReview),
		// jwt has Vault check the signature against the cluster's
		// published keys (OIDC discovery or JWKS).
		if cfg.Role == "" {
			return a, fmt.Errorf("%s auth needs a role", method)
		}
		a.path, a.role, a.jwtPath = authPath(cfg.AuthPath, method), cfg.Role, cfg.TokenPath
		if a.jwtPath == "" {
			a.jwtPath = DefaultTokenPath
		}
	case AuthAppRole:
		if cfg.RoleIDPath == "" || cfg.SecretIDPath == "" {
			return a, errors.New("approle auth needs roleIDPath and secretIDPath")
		}
		a.path, a.roleID, a.secretID = authPath(cfg.AuthPath, method), cfg.RoleIDPath, cfg.SecretIDPath
	case AuthToken:
		a.tokenPath, a.envToken = cfg.TokenPath, envToken
		if a.tokenPath == "" && a.envToken == "" {
			if home, err := os.UserHomeDir(); err == nil {
				a.tokenPath = filepath.Join(home, ".vault-token")
			}
		}
		if a.tokenPath == "" && a.envToken == "" {
			return a, errors.New("token auth needs VAULT_TOKEN or a token file")
		}
	default:
		return a, fmt.Errorf("auth %q is not one of kubernetes, jwt, approle, token", method)
	}
	return a, nil
}

// describe names the method for logs and errors.
func (a authenticator) describe() string {
	if a.path == "" {
		return a.method
	}
	return a.method + " at " + a.path
}

// session is one login: a client carrying its token, and what Vault said
// about the token's lifetime.
type session struct {
	client    *api.Client
	ttl       time.Duration // 0: the token does not expire
	renewable bool
	// life ends when the token is replaced by a new login (end); leases
	// it issued die with it. ended is its Done channel.
	life  context.Context
	end   context.CancelFunc
	ended <-chan struct{}
}

func newSession(client *api.Client) *session {
	s := &session{client: client}
	s.life, s.end = context.WithCancel(context.Background())
	s.ended = s.life.Done()
	return s
}

// login obtains a new token with the configured method.
func (b *Backend) login(ctx context.Context) (*session, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	a := b.auth
	client, err := b.base.CloneWithHeaders() // keeps the namespace header
	if err != nil {
		return nil, fmt.Errorf("vault login (%s): %w", a.describe(), err)
	}
	client.ClearToken()
	client.SetClientTimeout(DefaultTimeout)
	s := newSession(client)

	var body map[string]any
	switch a.method {
	case AuthKubernetes, AuthJWT:
		jwt, err := readCredential(a.jwtPath)
		if err != nil {
			return nil, fmt.Errorf("vault login (%s): service account token: %w", a.describe(), err)
		}
		body = map[string]any{"role": a.role, "jwt": jwt}
	case AuthAppRole:
		roleID, err := readCredential(a.roleID)
		if err != nil {
			return nil, fmt.Errorf("vault login (%s): role ID: %w", a.describe(), err)
		}
		secretID, err := readCredential(a.secretID)
		if err != nil {
			return nil, fmt.Errorf("vault login (%s): secret ID: %w", a.describe(), err)
		}
		body = map[string]any{"role_id": roleID, "secret_id": secretID}
	case AuthToken:
		token := a.envToken
		if a.tokenPath != "" {
			if token, err = readCredential(a.tokenPath); err != nil {
				return nil, fmt.Errorf("vault login (token): %w", err)
			}
		}
		client.SetToken(token)
		self, err := client.Auth().Token().LookupSelfWithContext(ctx)
		if err != nil {
			return nil, loginError(a, err)
		}
		s.ttl, _ = self.TokenTTL()
		s.renewable, _ = self.TokenIsRenewable()
		b.log.Info("vault token checked", "auth", a.describe(), "ttl", s.ttl, "renewable", s.renewable)
		return s, nil
	}
	sec, err := client.Logical().WriteWithContext(ctx, a.path+"/login", body)
	if err != nil {
		return nil, loginError(a, err)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, fmt.Errorf("vault login (%s): the response carries no token, will retry", a.describe())
	}
	client.SetToken(sec.Auth.ClientToken)
	s.ttl = time.Duration(sec.Auth.LeaseDuration) * time.Second
	s.renewable = sec.Auth.Renewable
	b.log.Info("vault login", "auth", a.describe(), "ttl", s.ttl, "renewable", s.renewable)
	return s, nil
}

// readCredential reads a credential file, trimmed of surrounding space.
// Its content never reaches an error.
func readCredential(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

// relogin replaces stale with a new login, unless another caller already
// did. The old session ends, which ends the KeepAlive of its leases.
func (b *Backend) relogin(ctx context.Context, stale *session) (*session, error) {
	b.loginMu.Lock()
	defer b.loginMu.Unlock()
	if cur := b.current(); cur != stale {
		return cur, nil
	}
	s, err := b.login(ctx)
	if err != nil {
		return nil, err
	}
	if b.auth.method == AuthToken && s.client.Token() == stale.client.Token() {
		return nil, fmt.Errorf("vault token (token auth) expires and no new token was provided: %w", backend.ErrDenied)
	}
	b.mu.Lock()
	b.sess = s
	for id, ls := range b.leases {
		if ls == stale {
			delete(b.leases, id)
		}
	}
	b.mu.Unlock()
	stale.end()
	return s, nil
}

// keepToken renews the current token while Vault allows, and logs in anew
// when it can no longer be renewed, until ctx ends.
func (b *Backend) keepToken(ctx context.Context) {
	for {
		s := b.current()
		if !b.watchToken(ctx, s) {
			if ctx.Err() != nil {
				return
			}
			continue // replaced by a login after a refused call
		}
		b.log.Info("vault token is near its end; logging in anew", "auth", b.auth.describe())
		delay := time.Second
		for {
			_, err := b.relogin(ctx, s)
			if err == nil {
				break
			}
			d := delay/2 + rand.N(delay/2+1)
			b.log.Warn("vault login failed; retrying", "auth", b.auth.describe(), "in", d, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
			delay = min(2*delay, time.Minute)
		}
	}
}

// watchToken renews s's token until it nears its end (true), or until s
// is replaced or ctx ends (false). A token without a TTL (a root token)
// needs no renewal.
func (b *Backend) watchToken(ctx context.Context, s *session) bool {
	if s.ttl == 0 {
		select {
		case <-ctx.Done():
		case <-s.ended:
		}
		return false
	}
	w, err := s.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{
		Secret: &api.Secret{Auth: &api.SecretAuth{
			ClientToken:   s.client.Token(),
			LeaseDuration: int(s.ttl / time.Second),
			Renewable:     s.renewable,
		}},
		// Keep trying through transient errors until the token's end
		// nears; a refusal makes the watcher wait out the token instead.
		RenewBehavior: api.RenewBehaviorIgnoreErrors,
	})
	if err != nil { // only for a nil secret
		b.log.Error("vault token watcher", "err", err)
		return true
	}
	go w.Start()
	defer w.Stop()
	// The watcher gives up only a jittered tenth of the last TTL before the
	// token's end, too close for a slow login to finish in time: log in
	// anew once the token is within margin of its end, renewals or not.
	margin := min(max(s.ttl/5, time.Second), s.ttl/3)
	nearEnd := time.NewTimer(s.ttl - margin)
	defer nearEnd.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.ended:
			return false
		case <-nearEnd.C:
			return true
		case r := <-w.RenewCh():
			if r.Secret != nil && r.Secret.Auth != nil {
				ttl := time.Duration(r.Secret.Auth.LeaseDuration) * time.Second
				b.log.Debug("vault token renewed", "ttl", ttl)
				nearEnd.Reset(time.Until(r.RenewedAt.Add(ttl)) - margin)
			}
		case err := <-w.DoneCh():
			if err != nil {
				b.log.Warn("vault token renewal failed", "err", redact(err))
			}
			return true
		}
	}
}

// call runs fn with the current session's client. When Vault refuses it
// and the token turns out to be no longer valid (expired, revoked), it
// logs in anew once and runs fn again. It returns the session fn last ran
// with.
func (b *Backend) call(ctx context.Context, fn func(*api.Client) error) (*session, error) {
	s := b.current()
	err := fn(s.client)
	if statusOf(err) != 403 || b.tokenValid(ctx, s) {
		return s, err
	}
	b.log.Info("vault token is no longer valid; logging in anew", "auth", b.auth.describe())
	s2, lerr := b.relogin(ctx, s)
	if lerr != nil {
		return s, lerr
	}
	return s2, fn(s2.client)
}

// tokenValid reports whether s's token still works (lookup-self is in
// every token's default policy). Only a refusal counts as invalid.
func (b *Backend) tokenValid(ctx context.Context, s *session) bool {
	_, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	return statusOf(err) != 403
}
