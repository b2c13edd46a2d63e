// Package awstest is an in-process AWS Secrets Manager: an HTTP server on
// 127.0.0.1 that speaks the service's JSON 1.1 protocol (POST /,
// X-Amz-Target: secretsmanager.<Operation>, AWS-style JSON errors), so
// that tests, e2e and benchmarks run the real SDK client against it.
//
// It also speaks STS (AssumeRole, AssumeRoleWithWebIdentity; see sts.go)
// on the same URL, so that a test can prove a credential chain: RequireRole
// makes Secrets Manager accept only the credentials STS issued for a role.
//
// It implements GetSecretValue, DescribeSecret, PutSecretValue,
// CreateSecret, DeleteSecret and RestoreSecret with the service's staging
// labels (AWSCURRENT, AWSPREVIOUS), scheduled deletion and ARNs. Every
// request must carry a SigV4 Authorization header of the right shape; the
// signature's value is not verified. Direct controls (Put, Delete, Deny,
// Throttle, FailWith, SetLatency) set state and faults without going
// through the protocol.
package awstest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/tradepulse/secret-injector/internal/testkit/fault"
)

// Server is the in-process Secrets Manager. Its methods are safe for
// concurrent use.
type Server struct {
	ts *httptest.Server

	// faults are Throttle, FailWith and SetLatency, and the Calls count.
	faults fault.Injector

	mu       sync.Mutex
	st       store
	denied   map[string]bool // by secret name
	requests []Request
	now      func() time.Time

	// STS (sts.go)
	roles    map[string]*stsRole
	required string // role whose credentials Secrets Manager demands
	lifetime time.Duration
	issued   []Credentials
}

// Request is what the server recorded of one request: which operation,
// which secret, and the shape of its signature. Never a value.
type Request struct {
	// Target is the X-Amz-Target header as sent.
	Target string
	// Operation is Target without the "secretsmanager." prefix.
	Operation string
	// SecretID is the request's SecretId (Name for CreateSecret).
	SecretID string
	// Auth is the parsed signature; AuthError is the error code it got
	// when its shape was wrong ("" when it was right).
	Auth      Auth
	AuthError string
	// Role is the role whose STS-issued credentials signed a Secrets
	// Manager request ("" for long-term keys or unknown ones).
	Role string
	// RoleARN and RoleSessionName are an STS request's parameters.
	RoleARN, RoleSessionName string
}

// NewServer starts a server on 127.0.0.1. Close it when done.
func NewServer() *Server {
	s := &Server{
		st:     store{secrets: map[string]*secret{}},
		denied: map[string]bool{},
		now:    time.Now,
		roles:  map[string]*stsRole{},
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the server's base URL, for the SDK's BaseEndpoint.
func (s *Server) URL() string { return s.ts.URL }

// Close shuts the server down, ending requests in flight.
func (s *Server) Close() {
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// Put adds a version of name holding value — a SecretBinary when binary,
// else a SecretString — creating the secret if needed. The new version
// gets AWSCURRENT and the one that had it AWSPREVIOUS. Put ignores Deny;
// a secret scheduled for deletion stays scheduled (and unreadable).
// It panics on a name the service would refuse.
func (s *Server) Put(name string, value []byte, binary bool) (versionID string) {
	if !validName.MatchString(name) {
		panic("awstest: invalid secret name " + name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.st.purge(now)
	sec, ok := s.st.secrets[name]
	if !ok {
		sec = newSecret(name, now)
		s.st.secrets[name] = sec
	}
	id := newVersionID()
	_ = sec.put(id, value, binary, nil, now) // a fresh id cannot clash
	return id
}

// Delete removes name at once, as DeleteSecret with
// ForceDeleteWithoutRecovery does: reads report ResourceNotFoundException.
func (s *Server) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.st.secrets, s.st.nameOf(name))
}

// ARN returns the full ARN of name, or "" when it does not exist.
func (s *Server) ARN(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.st.lookup(name); ok {
		return sec.arn
	}
	return ""
}

// Deny makes every operation on name (by name or ARN) answer
// AccessDeniedException, as an IAM or resource policy would; false lifts it.
func (s *Server) Deny(name string, denied bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = s.st.nameOf(name)
	if denied {
		s.denied[name] = true
	} else {
		delete(s.denied, name)
	}
}

// Throttle makes every operation answer ThrottlingException (on) or
// serve normally again.
func (s *Server) Throttle(on bool) { s.faults.Throttle(on) }

// FailWith makes every operation answer the given error code (for example
// InternalServiceError, with status 500, or DecryptionFailure); "" serves
// normally again. Throttle takes precedence.
func (s *Server) FailWith(code string) { s.faults.FailWith(code) }

// SetLatency delays every answer by d (until the client gives up).
func (s *Server) SetLatency(d time.Duration) { s.faults.SetLatency(d) }

// Calls returns how many requests each operation received, signed or not,
// answered or failed.
func (s *Server) Calls() map[string]int { return s.faults.Calls() }

// ResetCalls clears Calls and Requests.
func (s *Server) ResetCalls() {
	s.faults.ResetCalls()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Requests returns every request recorded since the last ResetCalls.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}
