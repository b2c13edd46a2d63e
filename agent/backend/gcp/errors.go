package gcp

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// classify wraps an error from Secret Manager with the reference that
// failed and the sentinel the agent acts on:
//
//   - NotFound, and FailedPrecondition (the version is disabled or
//     destroyed): backend.ErrNotFound, fail closed.
//   - PermissionDenied, Unauthenticated: backend.ErrDenied, fail closed.
//   - everything else (ResourceExhausted, Unavailable, DeadlineExceeded,
//     Internal, network failures, unknown codes): transient, so the agent
//     keeps the last good value and retries with its own backoff.
//
// The server's status message is kept: it names resources, never payloads.
func classify(ref string, err error) error {
	switch status.Code(err) {
	case codes.NotFound, codes.FailedPrecondition:
		return fmt.Errorf("secret %q: %w: %w", ref, backend.ErrNotFound, err)
	case codes.PermissionDenied, codes.Unauthenticated:
		return fmt.Errorf("secret %q: %w: %w", ref, backend.ErrDenied, err)
	}
	return fmt.Errorf("secret %q: %w", ref, err)
}

// invalidRef reports a reference that cannot name any secret. It fails
// closed like a missing secret: retrying will not make it valid.
func invalidRef(ref string, err error) error {
	return fmt.Errorf("secret %q: %w (invalid reference: %v)", ref, backend.ErrNotFound, err)
}
