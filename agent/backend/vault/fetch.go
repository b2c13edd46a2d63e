package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// Fetch reads the secret ref names (see the package documentation for
// references and versions). Leased secrets come with Secret.Lease.
func (b *Backend) Fetch(ctx context.Context, ref string) (backend.Secret, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	r, m, err := b.resolve(ctx, ref)
	if err != nil {
		return backend.Secret{}, err
	}
	if m.kind == "pki" && strings.HasPrefix(m.rest(r.path), "issue/") {
		// Reading an issuing path would only be refused (405): say what
		// is missing instead.
		return backend.Secret{}, invalidRef(ref, errors.New("a PKI issuing path: a certificate needs the secret's certificate settings (annotation cert-common-name-<name>, or certificate in the agent config)"))
	}
	var sec backend.Secret
	switch m.kvVersion {
	case 2:
		sec, err = b.fetchKV2(ctx, ref, r, m)
	default:
		sec, err = b.fetchPath(ctx, ref, r, m)
	}
	if err != nil {
		return backend.Secret{}, err
	}
	b.log.Debug("secret fetched", "ref", ref, "version", sec.Version, "leased", sec.Lease != nil)
	return sec, nil
}

// Version reports the version Fetch would return, reading as little as
// the engine allows: KV v2 metadata only; KV v1 and other unleased paths
// must be read in full. For leased secrets it answers ErrNotVersioned
// without calling Vault.
func (b *Backend) Version(ctx context.Context, ref string) (string, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	r, m, err := b.resolve(ctx, ref)
	if err != nil {
		return "", err
	}
	switch {
	case m.kvVersion == 2 && !b.metadataDenied(r.path):
		v, err := b.kv2Version(ctx, ref, r, m)
		if !errors.Is(err, backend.ErrDenied) {
			return v, err
		}
		// Perhaps the policy grants data/ but not metadata/: reading the
		// value settles it, and if that is denied too, so is ref.
		sec, err := b.fetchKV2(ctx, ref, r, m)
		if err != nil {
			return "", err
		}
		b.denied.Store(r.path, true)
		b.log.Warn("secret metadata is not readable; version checks will read the value",
			"ref", ref, "hint", "grant read on "+m.path+"metadata/"+m.rest(r.path))
		return sec.Version, nil
	case m.kvVersion == 2:
		sec, err := b.fetchKV2(ctx, ref, r, m)
		return sec.Version, err
	case m.kvVersion == 1:
		sec, err := b.fetchPath(ctx, ref, r, m)
		return sec.Version, err
	}
	return "", fmt.Errorf("secret %q: %w", ref, ErrNotVersioned)
}

// resolve parses ref and finds its mount.
func (b *Backend) resolve(ctx context.Context, ref string) (reference, mount, error) {
	r, err := parseRef(ref)
	if err != nil {
		return r, mount{}, invalidRef(ref, err)
	}
	m, err := b.mountOf(ctx, ref, r)
	if err != nil {
		return r, m, err
	}
	if m.rest(r.path) == "" {
		return r, m, invalidRef(ref, errors.New("names a mount, not a secret in it"))
	}
	return r, m, nil
}

// read reads one path, logging in anew once if the token had expired.
// A nil secret means Vault has nothing there.
func (b *Backend) read(ctx context.Context, ref, path string) (*api.Secret, *session, error) {
	var sec *api.Secret
	s, err := b.call(ctx, func(c *api.Client) error {
		var err error
		sec, err = c.Logical().ReadWithContext(ctx, path)
		return err
	})
	if err != nil {
		return nil, s, classify(ref, err)
	}
	return sec, s, nil
}

// fetchKV2 reads the current version of a KV v2 secret.
func (b *Backend) fetchKV2(ctx context.Context, ref string, r reference, m mount) (backend.Secret, error) {
	rest := m.rest(r.path)
	sec, _, err := b.read(ctx, ref, m.path+"data/"+rest)
	if err != nil {
		return backend.Secret{}, err
	}
	if sec == nil {
		return backend.Secret{}, notFound(ref, rest)
	}
	meta, _ := sec.Data["metadata"].(map[string]any)
	version := fmt.Sprint(meta["version"])
	if gone, why := versionGone(meta); gone {
		return backend.Secret{}, fmt.Errorf("secret %q: version %s is %s: %w", ref, version, why, backend.ErrNotFound)
	}
	data, ok := sec.Data["data"].(map[string]any)
	if !ok || meta == nil {
		return backend.Secret{}, notFound(ref, rest)
	}
	payload, err := selectField(ref, data, r.field)
	if err != nil {
		return backend.Secret{}, err
	}
	return backend.Secret{Data: payload, Version: "v" + version}, nil
}

// kv2Version reads a KV v2 secret's metadata: its current version, and
// whether that version may be read.
func (b *Backend) kv2Version(ctx context.Context, ref string, r reference, m mount) (string, error) {
	rest := m.rest(r.path)
	sec, _, err := b.read(ctx, ref, m.path+"metadata/"+rest)
	if err != nil {
		return "", err
	}
	if sec == nil {
		return "", notFound(ref, rest)
	}
	current := fmt.Sprint(sec.Data["current_version"])
	versions, _ := sec.Data["versions"].(map[string]any)
	meta, ok := versions[current].(map[string]any)
	if !ok {
		return "", notFound(ref, rest)
	}
	if gone, why := versionGone(meta); gone {
		return "", fmt.Errorf("secret %q: version %s is %s: %w", ref, current, why, backend.ErrNotFound)
	}
	return "v" + current, nil
}

// versionGone reads KV v2 version metadata: a version with a deletion time
// or destroyed cannot be read.
func versionGone(meta map[string]any) (bool, string) {
	if d, _ := meta["destroyed"].(bool); d {
		return true, "destroyed"
	}
	if t, _ := meta["deletion_time"].(string); t != "" {
		return true, "deleted"
	}
	return false, ""
}

// fetchPath reads a KV v1 secret or any other path; a response with a
// lease makes a leased secret.
func (b *Backend) fetchPath(ctx context.Context, ref string, r reference, m mount) (backend.Secret, error) {
	sec, s, err := b.read(ctx, ref, r.path)
	if err != nil {
		return backend.Secret{}, err
	}
	if sec == nil || sec.Data == nil {
		return backend.Secret{}, notFound(ref, m.rest(r.path))
	}
	payload, err := selectField(ref, sec.Data, r.field)
	if err != nil {
		if sec.LeaseID != "" {
			// Nobody will use these credentials: do not leave them behind.
			_ = b.Revoke(ctx, sec.LeaseID)
		}
		return backend.Secret{}, err
	}
	if sec.LeaseID == "" {
		return backend.Secret{Data: payload, Version: b.key.ContentVersion(payload)}, nil
	}
	ttl := time.Duration(sec.LeaseDuration) * time.Second
	b.trackLease(sec.LeaseID, s)
	return backend.Secret{
		Data:    payload,
		Version: sec.LeaseID,
		Lease: &backend.Lease{
			ID:        sec.LeaseID,
			TTL:       ttl,
			Renewable: sec.Renewable,
			Expiry:    time.Now().Add(ttl),
		},
	}, nil
}

// notFound says that ref is not there, with a hint for the common mistake
// of writing KV v2's data/ segment into a reference.
func notFound(ref, rest string) error {
	if strings.HasPrefix(rest, "data/") {
		return fmt.Errorf("secret %q: %w (KV v2 references omit data/: write the path as `vault kv get` takes it)", ref, backend.ErrNotFound)
	}
	return fmt.Errorf("secret %q: %w", ref, backend.ErrNotFound)
}

// selectField returns the whole data as a JSON object (sorted keys), or
// one field: a string as its bytes, anything else as its JSON encoding.
func selectField(ref string, data map[string]any, field string) ([]byte, error) {
	if field == "" {
		return encodeJSON(data)
	}
	v, ok := data[field]
	if !ok {
		return nil, fmt.Errorf("secret %q: field %q: %w", ref, field, backend.ErrNotFound)
	}
	if s, ok := v.(string); ok {
		return []byte(s), nil
	}
	return encodeJSON(v)
}

// encodeJSON encodes without HTML escaping (a value's "<" stays "<") and
// without the trailing newline. Maps encode with sorted keys; numbers keep
// the digits Vault sent (the client decodes them as json.Number).
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only unencodable Go values fail, never a value's content.
		return nil, fmt.Errorf("encoding secret data: %T is not JSON", v)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// metadataDenied reports whether the token may not read p's metadata.
func (b *Backend) metadataDenied(p string) bool {
	_, ok := b.denied.Load(p)
	return ok
}
