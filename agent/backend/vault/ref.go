package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// reference is a parsed secret reference: a Vault path and an optional
// field.
type reference struct {
	path  string // no leading or trailing slash
	field string // "" selects the whole secret
}

// parseRef splits "<path>[#field]". Paths are plain: no empty, "." or ".."
// elements, no query, no escapes, nothing Vault would read differently
// from how it is written.
func parseRef(ref string) (reference, error) {
	p, field, hasField := strings.Cut(ref, "#")
	if hasField && field == "" {
		return reference{}, errors.New("empty field after #")
	}
	if strings.Contains(field, "#") {
		return reference{}, errors.New("more than one #")
	}
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return reference{}, errors.New("empty path")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '?' || r == '%' || r == '\\' {
			return reference{}, fmt.Errorf("path may not contain %q", r)
		}
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return reference{}, fmt.Errorf("path has an empty, \".\" or \"..\" element")
		}
	}
	return reference{path: p, field: field}, nil
}

// mount is what Vault says about the secrets engine serving a path.
type mount struct {
	path      string // with a trailing slash, e.g. "secret/"
	kind      string // engine type, e.g. "kv", "database"
	kvVersion int    // 1 or 2 for KV, 0 for other engines
}

// rest is p's path inside the mount.
func (m mount) rest(p string) string {
	return strings.TrimPrefix(p+"/", m.path)
}

// mountCache remembers each mount once detected: mounts do not change
// type under a running agent.
type mountCache struct {
	mu     sync.Mutex
	mounts []mount
}

func (c *mountCache) find(p string) (mount, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	best, found := mount{}, false
	for _, m := range c.mounts {
		if strings.HasPrefix(p+"/", m.path) && len(m.path) > len(best.path) {
			best, found = m, true
		}
	}
	return best, found
}

func (c *mountCache) add(m mount) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, have := range c.mounts {
		if have.path == m.path {
			return
		}
	}
	c.mounts = append(c.mounts, m)
}

// mountOf finds the mount serving r, asking Vault the first time
// (sys/internal/ui/mounts/<path>, the preflight `vault kv` itself uses;
// the default policy allows it for any mount the token may use).
func (b *Backend) mountOf(ctx context.Context, ref string, r reference) (mount, error) {
	if m, ok := b.mounts.find(r.path); ok {
		return m, nil
	}
	var sec *api.Secret
	_, err := b.call(ctx, func(c *api.Client) error {
		var err error
		sec, err = c.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+r.path)
		return err
	})
	if err != nil {
		return mount{}, classify(ref, err)
	}
	if sec == nil || sec.Data == nil {
		return mount{}, fmt.Errorf("secret %q: %w (no secrets engine is mounted there)", ref, backend.ErrNotFound)
	}
	m := mount{}
	m.path, _ = sec.Data["path"].(string)
	m.kind, _ = sec.Data["type"].(string)
	if m.path == "" || !strings.HasSuffix(m.path, "/") || !strings.HasPrefix(r.path+"/", m.path) {
		return mount{}, fmt.Errorf("secret %q: vault named mount %q for it, will retry", ref, m.path)
	}
	if m.kind == "kv" || m.kind == "generic" {
		m.kvVersion = 1
		if opts, ok := sec.Data["options"].(map[string]any); ok && fmt.Sprint(opts["version"]) == "2" {
			m.kvVersion = 2
		}
	}
	b.mounts.add(m)
	b.log.Debug("vault mount detected", "mount", m.path, "type", m.kind, "kvVersion", m.kvVersion)
	return m, nil
}
