// Package gcp reads secrets from Google Secret Manager, authenticating with
// Application Default Credentials (on GKE: the pod's own Kubernetes service
// account through Workload Identity).
//
// # References
//
// A reference names one secret and, optionally, one version:
//
//	projects/P/secrets/S                 the latest version of S in project P
//	projects/P/secrets/S/versions/V      version V
//	projects/P/locations/L/secrets/S…    a regional secret in location L
//	S  or  S@V                           secret ID S in Options.Project
//	tradepulse/postgres-tls  or  …@V     a runbook path, mapped by SecretID
//
// The grammar is package gcpref's, which the injector checks at admission.
// A regional secret is read through its location's endpoint
// (secretmanager.L.rep.googleapis.com:443, or Options.RegionalEndpoint):
// the backend opens one client per location on first use.
//
// V is "latest" (the default), a version number such as 7, or a version
// alias. "latest" is Secret Manager's own alias for the most recently
// created version: when that version is disabled or destroyed the secret
// reads as gone (it fails closed) even if older versions are enabled,
// exactly as gcloud and every other client see it. Pin a version to serve
// an older one.
//
// # IAM
//
// Fetch needs secretmanager.versions.access (roles/secretmanager.secretAccessor).
// Version needs secretmanager.versions.get as well (roles/secretmanager.viewer)
// to check for a new version without reading the payload; without it, the
// backend logs a warning once per secret and checks by reading the payload.
//
// Only this package imports the Secret Manager SDK.
package gcp

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"strings"
	"sync"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/gcp/gcpref"
)

// DefaultTimeout bounds every call whose context carries no deadline.
const DefaultTimeout = 10 * time.Second

// Options configures a Backend.
type Options struct {
	// Project resolves short names (secret IDs and runbook paths).
	Project string
	// Endpoint overrides the global API endpoint (tests, private
	// endpoints); empty means Google's. It does not apply to regional
	// secrets.
	Endpoint string
	// RegionalEndpoint returns the endpoint that serves a location's
	// regional secrets (tests, private endpoints); nil means Google's,
	// gcpref.Endpoint.
	RegionalEndpoint func(location string) string
	// ClientOptions are passed to the SDK after the defaults (tests pass
	// an insecure transport and option.WithoutAuthentication). A regional
	// client gets them too, then its location's endpoint, which wins over
	// any endpoint among them.
	ClientOptions []option.ClientOption
}

// accessor is the part of the Secret Manager client the backend uses.
type accessor interface {
	AccessSecretVersion(context.Context, *secretmanagerpb.AccessSecretVersionRequest, ...gax.CallOption) (*secretmanagerpb.AccessSecretVersionResponse, error)
	GetSecretVersion(context.Context, *secretmanagerpb.GetSecretVersionRequest, ...gax.CallOption) (*secretmanagerpb.SecretVersion, error)
	Close() error
}

var _ accessor = (*secretmanager.Client)(nil)

// Backend reads secrets from Secret Manager. It is safe for concurrent use.
type Backend struct {
	client  accessor
	project string
	log     *slog.Logger
	// dial opens the client of a location's regional endpoint.
	dial func(location string) (accessor, error)

	mu sync.Mutex
	// regional holds the clients opened by dial, by location.
	regional map[string]accessor
	closed   bool
	// payloadOnly holds the secrets (name → true) whose metadata this
	// identity may not read: Version reads their payload instead. Each is
	// stored once and read at every check, what sync.Map is for.
	payloadOnly sync.Map
}

var (
	_ backend.Backend   = (*Backend)(nil)
	_ backend.Versioner = (*Backend)(nil)
	_ backend.Closer    = (*Backend)(nil)
)

// noRetry turns off the SDK's own retries (AccessSecretVersion retries
// Unavailable and ResourceExhausted for up to a minute by default): the
// agent's backoff governs, and a throttled call costs one request.
var noRetry = gax.WithRetry(func() gax.Retryer { return nil })

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// discard is always the SDK's logger: with GOOGLE_SDK_GO_LOGGING_LEVEL=debug
// the SDK would otherwise log every response, payloads included. It is also
// the backend's own logger when New is given none.
var discard = slog.New(slog.DiscardHandler)

// New connects to Secret Manager with Application Default Credentials
// unless opts.ClientOptions say otherwise. A nil log discards.
func New(ctx context.Context, opts Options, log *slog.Logger) (*Backend, error) {
	if opts.Project != "" {
		if err := gcpref.CheckProject(opts.Project); err != nil {
			return nil, fmt.Errorf("gcp backend: %w", err)
		}
	}
	var copts []option.ClientOption
	if opts.Endpoint != "" {
		copts = append(copts, option.WithEndpoint(opts.Endpoint))
	}
	copts = append(copts, opts.ClientOptions...)
	copts = append(copts, option.WithLogger(discard))
	client, err := secretmanager.NewClient(ctx, copts...)
	if err != nil {
		return nil, fmt.Errorf("gcp backend: secret manager client: %w", err)
	}
	b := newBackend(client, opts.Project, log)
	// A client keeps the context it was made with (its credentials
	// refresh tokens with it), so regional clients, made later on a
	// call's context, get this one without its cancellation instead.
	base := context.WithoutCancel(ctx)
	endpoint := opts.regionalEndpoint()
	b.dial = func(location string) (accessor, error) {
		ropts := append(append([]option.ClientOption(nil), opts.ClientOptions...),
			option.WithEndpoint(endpoint(location)), option.WithLogger(discard))
		return secretmanager.NewClient(base, ropts...)
	}
	return b, nil
}

// regionalEndpoint is RegionalEndpoint, or Google's.
func (o Options) regionalEndpoint() func(location string) string {
	if o.RegionalEndpoint != nil {
		return o.RegionalEndpoint
	}
	return gcpref.Endpoint
}

func newBackend(client accessor, project string, log *slog.Logger) *Backend {
	if log == nil {
		log = discard
	}
	return &Backend{
		client:   client,
		project:  project,
		log:      log,
		regional: map[string]accessor{},
	}
}

// clientFor returns the client that serves n: the global one, or its
// location's, opened on first use.
func (b *Backend) clientFor(ref string, n gcpref.Name) (accessor, error) {
	if n.Location == "" {
		return b.client, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.regional[n.Location]; c != nil {
		return c, nil
	}
	if b.closed {
		return nil, fmt.Errorf("secret %q: the gcp backend is closed", ref)
	}
	if b.dial == nil {
		return nil, fmt.Errorf("secret %q: %w (regional secrets need a client for location %s, and this backend has none)",
			ref, backend.ErrNotFound, n.Location)
	}
	c, err := b.dial(n.Location)
	if err != nil {
		// Not a statement about the secret: retried with backoff.
		return nil, fmt.Errorf("secret %q: secret manager client for location %s: %w", ref, n.Location, err)
	}
	b.regional[n.Location] = c
	return c, nil
}

// Fetch reads the secret's payload with one AccessSecretVersion call.
// Secret.Version is the full name of the version read, e.g.
// "projects/P/secrets/S/versions/7", the same string Version returns.
func (b *Backend) Fetch(ctx context.Context, ref string) (backend.Secret, error) {
	t, err := gcpref.Parse(ref, b.project)
	if err != nil {
		return backend.Secret{}, invalidRef(ref, err)
	}
	resp, err := b.access(ctx, ref, t)
	if err != nil {
		return backend.Secret{}, err
	}
	b.log.Debug("secret fetched", "ref", ref, "version", resp.GetName())
	return backend.Secret{Data: resp.GetPayload().GetData(), Version: resp.GetName()}, nil
}

// Version returns the full name of the version ref currently resolves to,
// with one GetSecretVersion call and no payload. A disabled or destroyed
// version reads as gone, as it does for Fetch.
func (b *Backend) Version(ctx context.Context, ref string) (string, error) {
	t, err := gcpref.Parse(ref, b.project)
	if err != nil {
		return "", invalidRef(ref, err)
	}
	if _, ok := b.payloadOnly.Load(t.SecretName()); !ok {
		client, err := b.clientFor(ref, t)
		if err != nil {
			return "", err
		}
		v, err := getVersion(ctx, client, t)
		switch {
		case err == nil:
			return checkVersion(ref, v)
		case status.Code(err) != codes.PermissionDenied:
			return "", classify(ref, err)
		}
		// Denied metadata: perhaps the identity holds only secretAccessor.
		// Reading the payload settles it; if that is denied too, so is ref.
		resp, err := b.access(ctx, ref, t)
		if err != nil {
			return "", err
		}
		b.payloadOnly.Store(t.SecretName(), true)
		b.log.Warn("secret metadata is not readable; version checks will read the payload",
			"ref", ref, "hint", "grant roles/secretmanager.viewer on the secret to make them cheaper")
		return resp.GetName(), nil
	}
	resp, err := b.access(ctx, ref, t)
	if err != nil {
		return "", err
	}
	return resp.GetName(), nil
}

// Close releases the clients' connections.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed = true
	regional := b.regional
	b.regional = map[string]accessor{}
	b.mu.Unlock()
	errs := []error{b.client.Close()}
	for _, c := range regional {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// access reads one version's payload and checks it against its CRC32C.
func (b *Backend) access(ctx context.Context, ref string, t gcpref.Name) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	client, err := b.clientFor(ref, t)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: t.VersionName()}, noRetry)
	if err != nil {
		return nil, classify(ref, err)
	}
	if resp.GetName() == "" {
		return nil, fmt.Errorf("secret %q: response names no version, will retry", ref)
	}
	if want := resp.GetPayload().DataCrc32C; want != nil {
		if got := crc32.Checksum(resp.GetPayload().GetData(), castagnoli); int64(got) != *want {
			b.log.Warn("secret payload checksum mismatch", "ref", ref, "version", resp.GetName())
			return nil, fmt.Errorf("secret %q: version %s: payload checksum mismatch, will retry", ref, resp.GetName())
		}
	}
	return resp, nil
}

func getVersion(ctx context.Context, client accessor, t gcpref.Name) (*secretmanagerpb.SecretVersion, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	return client.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: t.VersionName()}, noRetry)
}

// checkVersion turns version metadata into Version's answer: only an
// enabled version can be read, so any other state is gone.
func checkVersion(ref string, v *secretmanagerpb.SecretVersion) (string, error) {
	if v.GetName() == "" {
		return "", fmt.Errorf("secret %q: response names no version, will retry", ref)
	}
	if v.GetState() != secretmanagerpb.SecretVersion_ENABLED {
		return "", fmt.Errorf("secret %q: version %s is %s: %w",
			ref, v.GetName(), strings.ToLower(v.GetState().String()), backend.ErrNotFound)
	}
	return v.GetName(), nil
}

// withDeadline keeps the caller's deadline, or sets DefaultTimeout.
func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}
