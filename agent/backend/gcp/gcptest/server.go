// Package gcptest is an in-process Google Secret Manager for tests, e2e runs
// and benchmarks: a real gRPC server implementing SecretManagerService in
// memory, so the real Go client talks to it over the real wire protocol.
// NewServer is the global endpoint; NewRegionalServer is one location's
// regional endpoint, for regional secrets.
//
// Besides the RPCs it offers direct controls (Put, Delete, Deny, Throttle,
// SetLatency, ...) and records every call for request-count assertions.
package gcptest

import (
	"context"
	"fmt"
	"net"
	"path"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tradepulse/secret-injector/internal/testkit/fault"
)

// Server is an in-memory Secret Manager listening on a loopback port: the
// global endpoint (NewServer), which serves projects/P/secrets/S, or one
// location's regional endpoint (NewRegionalServer), which serves only
// projects/P/locations/L/secrets/S of its own location, as Google's
// secretmanager.L.rep.googleapis.com does.
type Server struct {
	lis  net.Listener
	grpc *grpc.Server
	// location is the regional endpoint's location; empty for global.
	location string

	// faults are Throttle and SetLatency, and the Calls count (by RPC
	// method name).
	faults fault.Injector

	mu      sync.Mutex
	secrets map[string]*secret  // by "projects/P/secrets/S"
	denied  map[string]bool     // secret names refused every call
	noMeta  map[string]bool     // secret names refused metadata reads
	corrupt bool                // CorruptChecksums
	params  map[string][]string // x-goog-request-params, by method
}

// NewServer starts a global endpoint on 127.0.0.1 with a free port. Close it.
func NewServer() (*Server, error) {
	return newServer("")
}

// NewRegionalServer starts the regional endpoint of location (e.g.
// "europe-west4") on 127.0.0.1 with a free port. Close it.
func NewRegionalServer(location string) (*Server, error) {
	if location == "" || strings.Contains(location, "/") {
		return nil, fmt.Errorf("gcptest: location %q is not a location", location)
	}
	return newServer(location)
}

func newServer(location string) (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("gcptest: listen: %w", err)
	}
	s := &Server{
		location: location,
		lis:      lis,
		secrets:  map[string]*secret{},
		denied:   map[string]bool{},
		noMeta:   map[string]bool{},
		params:   map[string][]string{},
	}
	s.grpc = grpc.NewServer(grpc.UnaryInterceptor(s.intercept))
	secretmanagerpb.RegisterSecretManagerServiceServer(s.grpc, &service{s: s})
	// Serve returns when Close stops the server; its error says only that.
	go func() { _ = s.grpc.Serve(lis) }()
	return s, nil
}

// Location is the regional endpoint's location, or "" for the global one.
func (s *Server) Location() string { return s.location }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops the server at once, failing calls in flight.
func (s *Server) Close() { s.grpc.Stop() }

// ClientOptions point a Secret Manager client at this server: its
// endpoint, a plaintext transport and no authentication.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.Addr()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Put adds a version holding data to the secret name
// ("projects/P/secrets/S", or "projects/P/locations/L/secrets/S" on a
// regional server), creating the secret first if needed, and returns the
// new version's full name. It panics on a name this server does not serve.
func (s *Server) Put(name string, data []byte) (version string) {
	if _, err := s.parseSecret(name); err != nil {
		panic("gcptest.Put: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		sec = s.createLocked(name)
	}
	return s.addLocked(sec, data).name
}

// Delete removes the secret name and all its versions, as DeleteSecret
// does. A recreated secret numbers its versions from 1 again.
func (s *Server) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, name)
}

// Deny makes every call on the secret name (and its versions) fail with
// PermissionDenied while denied is true, whether or not it exists.
func (s *Server) Deny(name string, denied bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[name] = denied
}

// DenyMetadata makes the metadata reads GetSecret, GetSecretVersion and
// ListSecretVersions on the secret name fail with PermissionDenied while
// AccessSecretVersion still works: an identity that holds only
// roles/secretmanager.secretAccessor.
func (s *Server) DenyMetadata(name string, denied bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noMeta[name] = denied
}

// Throttle makes every call fail with ResourceExhausted while on.
func (s *Server) Throttle(on bool) { s.faults.Throttle(on) }

// CorruptChecksums makes AccessSecretVersion return a data_crc32c that
// does not match the payload while on.
func (s *Server) CorruptChecksums(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corrupt = on
}

// SetLatency delays every call by d (or until the caller gives up).
func (s *Server) SetLatency(d time.Duration) { s.faults.SetLatency(d) }

// Calls counts the calls received per RPC method name, e.g.
// "AccessSecretVersion": 3, including calls that failed.
func (s *Server) Calls() map[string]int { return s.faults.Calls() }

// RequestParams returns the x-goog-request-params routing headers the
// calls to method carried, in order, e.g. "name=projects%2Fp%2F...".
func (s *Server) RequestParams(method string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.params[method]...)
}

// ResetCalls forgets the recorded calls and routing headers.
func (s *Server) ResetCalls() {
	s.faults.ResetCalls()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.params = map[string][]string{}
}

// intercept records each call, then applies latency and throttling.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := path.Base(info.FullMethod)
	s.mu.Lock()
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		s.params[method] = append(s.params[method], md.Get("x-goog-request-params")...)
	}
	s.mu.Unlock()
	faults := s.faults.Record(method)

	if err := faults.Wait(ctx); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	if faults.Throttle {
		return nil, status.Errorf(codes.ResourceExhausted,
			"Quota exceeded for quota metric 'Access requests' and limit 'Access requests per minute' of service 'secretmanager.googleapis.com'")
	}
	return handler(ctx, req)
}

// checkAccessLocked applies Deny and DenyMetadata to a call on the secret name.
// Callers hold s.mu.
func (s *Server) checkAccessLocked(secretName, permission string, metadataRead bool) error {
	if s.denied[secretName] || metadataRead && s.noMeta[secretName] {
		return status.Errorf(codes.PermissionDenied,
			"Permission '%s' denied for resource '%s' (or it may not exist).", permission, secretName)
	}
	return nil
}
