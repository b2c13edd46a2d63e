package aws

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// RefreshBeforeExpiry is how long before an assumed role's credentials
// expire the agent asks STS for new ones: a request signed just before
// expiry must not arrive just after it, and an STS hiccup then still
// leaves time for the next try. STS's default session lasts 15 minutes
// (the SDK's), so an assumed role costs one AssumeRole every ~14 minutes.
const RefreshBeforeExpiry = time.Minute

// maxSessionName is STS's limit on RoleSessionName.
const maxSessionName = 64

// SessionName names the agent's STS session after its pod,
// "<namespace>.<pod>", so that CloudTrail shows which pod read a secret.
// STS allows 2–64 of [A-Za-z0-9_+=,.@-]: other characters become '-', and
// a longer name keeps its end, where a generated pod name is unique.
// Without a pod it is "secret-injector".
func SessionName(namespace, pod string) string {
	name := strings.Trim(namespace+"."+pod, ".")
	if name == "" {
		return "secret-injector"
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_+=,.@-", r):
			return r
		}
		return '-'
	}, name)
	if len(name) > maxSessionName {
		name = name[len(name)-maxSessionName:]
	}
	if len(name) < 2 {
		name = "si-" + name
	}
	return name
}

// assumeRole replaces cfg's credentials with those of role, assumed with
// STS AssumeRole using cfg's own (the pod's identity) as the source. The
// cache refreshes them RefreshBeforeExpiry before they expire and
// serialises concurrent refreshes. STS does not retry either: the agent's
// backoff governs.
func assumeRole(cfg *aws.Config, role, session string) {
	client := sts.NewFromConfig(*cfg, func(o *sts.Options) { o.Retryer = aws.NopRetryer{} })
	provider := stscreds.NewAssumeRoleProvider(client, role, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = session
	})
	cfg.Credentials = aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = RefreshBeforeExpiry
	})
}

// stsOperationError finds the STS operation that failed to give the
// client credentials, inside the Secrets Manager call's error: the SDK
// nests it as the cause of the outer operation error.
func stsOperationError(err error) *smithy.OperationError {
	for err != nil {
		var op *smithy.OperationError
		if !errors.As(err, &op) {
			return nil
		}
		if op.ServiceID == "STS" {
			return op
		}
		err = op.Err
	}
	return nil
}

// classifySTS explains a Secrets Manager call that failed because STS
// refused credentials, naming the role to fix; ok is false for any other
// error. STS AccessDenied (the role's trust policy does not allow the
// pod's identity, or the role is gone) is backend.ErrDenied: the agent
// fails closed until someone fixes the policy. Anything else from STS
// (throttling, an expired web identity token the kubelet is about to
// refresh, a network error) is transient. STS messages name principals
// and roles, never credentials.
func (b *Backend) classifySTS(ref string, err error) (error, bool) {
	op := stsOperationError(err)
	if op == nil {
		return nil, false
	}
	role := b.roleARN
	if op.OperationName == "AssumeRoleWithWebIdentity" {
		role = b.webIdentityRole
	}
	var decodeErr *smithy.DeserializationError
	if errors.As(op, &decodeErr) {
		// the decoder may quote the body, which holds credentials
		return fmt.Errorf("aws secret %q: %s role %s: STS response could not be decoded", ref, verb(op.OperationName), role), true
	}
	var apiErr smithy.APIError
	if errors.As(op, &apiErr) {
		if apiErr.ErrorCode() == "AccessDenied" {
			return fmt.Errorf("aws secret %q: %w: %s role %s: STS AccessDenied: %s; the role's trust policy must allow this pod's identity",
				ref, backend.ErrDenied, verb(op.OperationName), role, apiErr.ErrorMessage()), true
		}
		return fmt.Errorf("aws secret %q: %s role %s: STS %s: %s", ref, verb(op.OperationName), role, apiErr.ErrorCode(), apiErr.ErrorMessage()), true
	}
	return fmt.Errorf("aws secret %q: %s role %s: %w", ref, verb(op.OperationName), role, op.Err), true
}

// verb says what the agent was doing when STS failed.
func verb(operation string) string {
	if operation == "AssumeRoleWithWebIdentity" {
		return "assuming (IRSA web identity)"
	}
	return "assuming"
}
