package aws

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// Error codes the SDK does not model as types: they come from the
// service's front door, shared by every AWS service.
const codeAccessDenied = "AccessDeniedException"

// classify wraps an SDK error from op on ref with what it means to the
// agent:
//
//   - ResourceNotFoundException (the secret, stage or version is gone), and
//     InvalidRequestException for a secret scheduled for deletion →
//     backend.ErrNotFound;
//   - AccessDeniedException, and DecryptionFailure (the identity may not use
//     the secret's KMS key) → backend.ErrDenied;
//   - anything else — throttling, InternalServiceError, 5xx, network,
//     deadlines, credential errors — is transient: the agent keeps the last
//     good value and retries with its own backoff.
//
// The SDK's message is kept for operators; it names the request, never a
// value. A response that failed to decode is the exception: the decoder
// may quote the body, which can hold the value, so only its HTTP status is
// kept.
func classify(ref, op string, err error) error {
	var (
		decodeErr   *smithy.DeserializationError
		notFound    *types.ResourceNotFoundException
		invalid     *types.InvalidRequestException
		decryption  *types.DecryptionFailure
		apiErr      smithy.APIError
		responseErr *smithyhttp.ResponseError
	)
	switch {
	case errors.As(err, &decodeErr):
		status := "unknown"
		if errors.As(err, &responseErr) {
			status = fmt.Sprint(responseErr.HTTPStatusCode())
		}
		return fmt.Errorf("aws secret %q: %s: response (HTTP status %s) could not be decoded", ref, op, status)
	case errors.As(err, &notFound):
		return fmt.Errorf("aws secret %q: %w: %w", ref, backend.ErrNotFound, err)
	case errors.As(err, &invalid) && scheduledForDeletion(invalid.ErrorMessage()):
		return fmt.Errorf("aws secret %q: %w (scheduled for deletion): %w", ref, backend.ErrNotFound, err)
	case errors.As(err, &decryption):
		return fmt.Errorf("aws secret %q: %w (KMS decryption refused): %w", ref, backend.ErrDenied, err)
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == codeAccessDenied:
		return fmt.Errorf("aws secret %q: %w: %w", ref, backend.ErrDenied, err)
	}
	return fmt.Errorf("aws secret %q: %w", ref, err)
}

// scheduledForDeletion recognises the service's InvalidRequestException
// for a secret whose deletion is scheduled. The code alone cannot tell: the
// same code covers other invalid requests, which are not "gone".
func scheduledForDeletion(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "marked for deletion") || strings.Contains(msg, "scheduled for deletion")
}
