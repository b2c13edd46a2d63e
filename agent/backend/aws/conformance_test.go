package aws_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	awsbackend "github.com/tradepulse/secret-injector/agent/backend/aws"
	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
)

// TestConformance runs the shared suite twice: once writing through the
// real SDK (CreateSecret, PutSecretValue, DeleteSecret), once through the
// server's direct controls.
func TestConformance(t *testing.T) {
	t.Run("sdk", func(t *testing.T) {
		srv := awstest.NewServer()
		defer srv.Close()
		b, logs := newBackend(t, srv, awsbackend.Options{})
		c := sdkClient(t, srv)
		backendtest.Run(t, backendtest.Harness{
			Backend: b,
			Put:     func(t *testing.T, ref string, data []byte) { sdkPut(t, c, ref, data) },
			Delete: func(t *testing.T, ref string) {
				_, err := c.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{
					SecretId: &ref, ForceDeleteWithoutRecovery: aws.Bool(true),
				})
				if err != nil {
					t.Fatalf("DeleteSecret(%q): %v", ref, err)
				}
			},
			Deny:     func(_ *testing.T, ref string, denied bool) { srv.Deny(ref, denied) },
			Throttle: func(_ *testing.T, on bool) { srv.Throttle(on) },
			Binary:   true,
			Ref:      func(p string) string { return p },
		})
		if strings.Contains(logs.String(), backendtest.Sentinel) {
			t.Errorf("logs leak the secret value:\n%s", logs)
		}
	})
	t.Run("controls", func(t *testing.T) {
		srv := awstest.NewServer()
		defer srv.Close()
		b, logs := newBackend(t, srv, awsbackend.Options{})
		backendtest.Run(t, backendtest.Harness{
			Backend:  b,
			Put:      func(_ *testing.T, ref string, data []byte) { srv.Put(ref, data, !utf8.Valid(data)) },
			Delete:   func(_ *testing.T, ref string) { srv.Delete(ref) },
			Deny:     func(_ *testing.T, ref string, denied bool) { srv.Deny(ref, denied) },
			Throttle: func(_ *testing.T, on bool) { srv.Throttle(on) },
			Binary:   true,
			Ref:      func(p string) string { return p },
		})
		if strings.Contains(logs.String(), backendtest.Sentinel) {
			t.Errorf("logs leak the secret value:\n%s", logs)
		}
	})
}
