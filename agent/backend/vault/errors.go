package vault

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// statusOf is the HTTP status of a Vault error response, 0 for any other
// error (network, TLS, timeout) and for nil.
func statusOf(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// classify wraps an error from a call about ref with the sentinel the agent
// acts on:
//
//   - 404: backend.ErrNotFound, fail closed.
//   - 400: backend.ErrNotFound too: Vault rejects the path or its
//     parameters (an unknown database role, a path the engine does not
//     serve); asking again will not help.
//   - 401, 403: backend.ErrDenied (the caller has already logged in anew
//     if the token had expired).
//   - anything else (429, 5xx, 503 sealed or standby, network failures):
//     transient; the agent keeps the last good value and retries.
//
// Vault's response body is never repeated: only its status code. A body
// can echo request data, and this package's errors must never hold values.
func classify(ref string, err error) error {
	code := statusOf(err)
	switch code {
	case 0:
		return fmt.Errorf("secret %q: %w", ref, explainTLS(redact(err)))
	case http.StatusNotFound:
		return fmt.Errorf("secret %q: %w (vault answered 404)", ref, backend.ErrNotFound)
	case http.StatusBadRequest:
		return fmt.Errorf("secret %q: %w (vault rejected the request: 400)", ref, backend.ErrNotFound)
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("secret %q: %w (vault answered %d)", ref, backend.ErrDenied, code)
	}
	return fmt.Errorf("secret %q: vault answered %d, will retry", ref, code)
}

// loginError wraps a failed login. A refusal (400 bad credentials, 401,
// 403) is ErrDenied: the agent's identity may not log in.
func loginError(a authenticator, err error) error {
	switch code := statusOf(err); code {
	case 0:
		return fmt.Errorf("vault login (%s): %w", a.describe(), explainTLS(redact(err)))
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("vault login (%s): %w (vault answered %d)", a.describe(), backend.ErrDenied, code)
	default:
		return fmt.Errorf("vault login (%s): vault answered %d, will retry", a.describe(), code)
	}
}

// redact drops the body of a Vault error response, keeping its method,
// URL and status; other errors (network, TLS) hold no response data and
// pass through.
func redact(err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("%s %s: vault answered %d", re.HTTPMethod, re.URL, re.StatusCode)
	}
	return err
}

// invalidRef reports a reference that cannot name any secret. It fails
// closed like a missing secret: retrying will not make it valid.
func invalidRef(ref string, err error) error {
	return fmt.Errorf("secret %q: %w (invalid reference: %v)", ref, backend.ErrNotFound, err)
}

// explainTLS adds to a failed TLS handshake with Vault what the operator
// must do: Go's own message ("x509: certificate signed by unknown
// authority") names neither Vault nor the setting that fixes it. Other
// errors pass unchanged. A certificate holds no secret, so the wrapped
// error may be shown whole.
func explainTLS(err error) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w: Vault's TLS certificate is not signed by a CA this agent trusts; "+
			"set backend.vault.caCert (or VAULT_CACERT) to a PEM bundle holding the CA that signed it "+
			"(in a cluster, the chart's defaults.vault.caBundle)", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w: Vault's TLS certificate does not name the host in the Vault address; "+
			"use an address the certificate was issued for", err)
	case errors.As(err, &invalid), errors.As(err, &verify):
		return fmt.Errorf("%w: Vault's TLS certificate was refused; check it and the CA bundle "+
			"(backend.vault.caCert, VAULT_CACERT; in a cluster, defaults.vault.caBundle)", err)
	}
	return err
}
