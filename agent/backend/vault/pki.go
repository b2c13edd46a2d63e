package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend"
)

var _ backend.Issuer = (*Backend)(nil)

// Issue issues a certificate from a PKI engine: ref is <mount>/issue/<role>
// on a mount of type pki. The role decides what is allowed; a request it
// refuses (a name it does not allow, an unknown role) is ErrDenied with
// Vault's reason, which speaks of names and never of the key.
//
// The certificate's Version is its serial number, its Validity its
// NotBefore and NotAfter. A role with generate_lease=true attaches a lease
// to the certificate; it is not kept or revoked (a certificate is not
// renewed, and is replaced before it ends).
func (b *Backend) Issue(ctx context.Context, ref string, req backend.CertRequest) (backend.Secret, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	r, m, err := b.resolve(ctx, ref)
	if err != nil {
		return backend.Secret{}, err
	}
	role, ok := strings.CutPrefix(strings.TrimSuffix(m.rest(r.path), "/"), "issue/")
	switch {
	case r.field != "":
		return backend.Secret{}, invalidRef(ref, errors.New("a certificate has no #field: its files are cert.pem, key.pem and ca.pem"))
	case m.kind != "pki":
		return backend.Secret{}, invalidRef(ref, fmt.Errorf("mount %s is a %s engine, not pki: certificates are issued by a PKI engine", m.path, m.kind))
	case !ok || role == "" || strings.Contains(role, "/"):
		return backend.Secret{}, invalidRef(ref, fmt.Errorf("a certificate is issued at %sissue/<role>", m.path))
	}
	data := map[string]any{"format": "pem"}
	if req.CommonName != "" {
		data["common_name"] = req.CommonName
	}
	if len(req.DNSNames) > 0 {
		data["alt_names"] = strings.Join(req.DNSNames, ",")
	}
	if len(req.IPAddresses) > 0 {
		data["ip_sans"] = strings.Join(req.IPAddresses, ",")
	}
	if req.TTL > 0 {
		data["ttl"] = fmt.Sprintf("%ds", int64((req.TTL+time.Second-1)/time.Second))
	}
	var sec *api.Secret
	_, err = b.call(ctx, func(c *api.Client) error {
		var err error
		sec, err = c.Logical().WriteWithContext(ctx, r.path, data)
		return err
	})
	if err != nil {
		return backend.Secret{}, issueError(ref, err)
	}
	if sec == nil || sec.Data == nil {
		return backend.Secret{}, fmt.Errorf("certificate %q: vault answered without a certificate, will retry", ref)
	}
	out, err := certificateFrom(ref, sec.Data)
	if err != nil {
		return backend.Secret{}, err
	}
	b.log.Debug("certificate issued", "ref", ref, "serial", out.Version, "notAfter", out.Validity.NotAfter)
	return out, nil
}

// certificateFrom builds the secret from Vault's answer, checking that
// the certificate parses and that the key is its own: a certificate the
// app cannot load must not replace one it can.
func certificateFrom(ref string, d map[string]any) (backend.Secret, error) {
	bad := func(what string) error {
		return fmt.Errorf("certificate %q: vault's answer %s, will retry", ref, what)
	}
	certPEM, _ := d["certificate"].(string)
	keyPEM, _ := d["private_key"].(string)
	serial, _ := d["serial_number"].(string)
	if certPEM == "" || keyPEM == "" || serial == "" {
		return backend.Secret{}, bad("lacks the certificate, its key or its serial number")
	}
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return backend.Secret{}, bad("holds no PEM certificate")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return backend.Secret{}, bad("holds a certificate that does not parse")
	}
	// tls's errors are fixed sentences; none quotes the key. Still, say
	// ours.
	if _, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM)); err != nil {
		return backend.Secret{}, bad("holds a private key that does not match its certificate")
	}
	var chain []string
	if cas, ok := d["ca_chain"].([]any); ok {
		for _, c := range cas {
			if s, ok := c.(string); ok && strings.TrimSpace(s) != "" {
				chain = append(chain, strings.TrimSpace(s))
			}
		}
	}
	if len(chain) == 0 {
		if s, _ := d["issuing_ca"].(string); strings.TrimSpace(s) != "" {
			chain = []string{strings.TrimSpace(s)}
		}
	}
	if len(chain) == 0 {
		return backend.Secret{}, bad("lacks the issuing CA")
	}
	payload, err := encodeJSON(map[string]string{
		backend.CertFile: strings.TrimSpace(certPEM) + "\n",
		backend.KeyFile:  strings.TrimSpace(keyPEM) + "\n",
		backend.CAFile:   strings.Join(chain, "\n") + "\n",
	})
	if err != nil {
		return backend.Secret{}, err
	}
	return backend.Secret{
		Data:     payload,
		Version:  serial,
		Validity: &backend.Validity{NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter},
	}, nil
}

// Bounds on the reasons a refusal repeats from Vault.
const (
	maxReasons      = 3
	maxReasonLength = 200
)

// issueError classifies a failed issue like classify, except that a 400
// (the role refuses the request: a name it does not allow, a TTL it
// cannot give, an unknown role) is ErrDenied and says Vault's reason. The
// request carried only names from the pod's annotations and the answer
// holds no certificate, so the reason cannot hold a key or a value; it is
// still cut short and stripped of control characters.
func issueError(ref string, err error) error {
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		return classify(ref, err)
	}
	var reasons []string
	for _, e := range re.Errors {
		if len(reasons) == maxReasons {
			break
		}
		e = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, e)
		if len(e) > maxReasonLength {
			e = strings.ToValidUTF8(e[:maxReasonLength], "") + "…"
		}
		reasons = append(reasons, e)
	}
	why := "no reason given"
	if len(reasons) > 0 {
		why = strings.Join(reasons, "; ")
	}
	return fmt.Errorf("certificate %q: vault refused to issue it (400: %s): %w", ref, why, backend.ErrDenied)
}
