// Package admin is the agent's admin API: its JSON types, the HTTP handler
// that serves them on the pod's loopback, and a client for the operator CLI.
// Nothing here carries a secret value: status shows versions, times, errors
// and lease ids only.
package admin

import (
	"fmt"
	"time"
)

// Status is the answer to GET /v1/status.
type Status struct {
	Backend string `json:"backend"`
	Mode    string `json:"mode"`
	// Ready is true once every required secret has been written.
	Ready   bool           `json:"ready"`
	Secrets []SecretStatus `json:"secrets"`
}

// SecretStatus is one secret's state.
type SecretStatus struct {
	Name string `json:"name"`
	Ref  string `json:"ref"`
	// OK mirrors secret_rotation_status: the file holds the current value.
	OK          bool      `json:"ok"`
	Version     string    `json:"version,omitempty"`
	Files       []string  `json:"files,omitempty"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	// Result is the last refresh's outcome (the secret_refresh_total result
	// label: updated, unchanged, not_found, denied, error).
	Result string       `json:"result,omitempty"`
	Lease  *LeaseStatus `json:"lease,omitempty"`
	// Certificate is set for a certificate on the volume (Vault PKI).
	Certificate *CertificateStatus `json:"certificate,omitempty"`
}

// CertificateStatus describes the certificate on the volume, never its
// key: its validity (Version is its serial number) and when the agent
// issues the next one.
type CertificateStatus struct {
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	RenewAt   time.Time `json:"renewAt"`
}

// LeaseStatus describes a secret's lease, never its credentials.
type LeaseStatus struct {
	ID         string    `json:"id"`
	TTLSeconds int64     `json:"ttlSeconds"`
	Expiry     time.Time `json:"expiry"`
	Renewable  bool      `json:"renewable"`
}

// RefreshResult is the answer to POST /v1/refresh.
type RefreshResult struct {
	Secrets []SecretStatus `json:"secrets"`
}

// Revocation reports one lease revoked by POST /v1/leases/revoke and what
// replaced it.
type Revocation struct {
	Secret       string `json:"secret"`
	RevokedLease string `json:"revokedLease"`
	// NewLease is empty when fresh credentials could not be fetched; the
	// file was then removed (fail closed) and Error says why.
	NewLease string `json:"newLease,omitempty"`
	Error    string `json:"error,omitempty"`
}

// RevokeResult is the answer to POST /v1/leases/revoke.
type RevokeResult struct {
	Revoked []Revocation `json:"revoked"`
}

// ErrorBody is the JSON body of every non-2xx answer.
type ErrorBody struct {
	Error string `json:"error"`
}

// result is an operation's answer that can say which secrets failed. The
// handler answers 502 when any did; the client names them in its error.
type result interface {
	// failures describes each failed secret as "secret NAME: why".
	failures() []string
}

func (r RefreshResult) failures() []string {
	var f []string
	for _, s := range r.Secrets {
		if !s.OK {
			f = append(f, describeFailure(s.Name, s.LastError))
		}
	}
	return f
}

func (r RevokeResult) failures() []string {
	var f []string
	for _, rv := range r.Revoked {
		if rv.Error != "" {
			f = append(f, describeFailure(rv.Secret, rv.Error))
		}
	}
	return f
}

func describeFailure(name, why string) string {
	if why == "" {
		why = "not ok"
	}
	return fmt.Sprintf("secret %s: %s", name, why)
}
