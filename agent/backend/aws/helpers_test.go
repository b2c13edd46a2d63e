package aws_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/tradepulse/secret-injector/agent/backend"
	awsbackend "github.com/tradepulse/secret-injector/agent/backend/aws"
	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
)

// testAKID is the access key the tests' environment provides.
const testAKID = "AKIDAWSTESTEXAMPLE"

// awsEnv gives the default credential chain static keys from the
// environment and shuts out everything else on the machine (shared
// files, instance metadata, web identity).
func awsEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                      testAKID,
		"AWS_SECRET_ACCESS_KEY":                  "awstest-secret-access-key",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_REGION":                             "us-east-1",
		"AWS_DEFAULT_REGION":                     "",
		"AWS_PROFILE":                            "",
		"AWS_CONFIG_FILE":                        filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE":            filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_ENDPOINT_URL":                       "",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER":       "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_ROLE_ARN":                           "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_MAX_ATTEMPTS":                       "",
		"AWS_RETRY_MODE":                         "",
	} {
		t.Setenv(k, v)
	}
}

// logBuffer collects log output for leak checks.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newBackend sets up the environment and a backend against srv that logs
// at debug level into the returned buffer.
func newBackend(t *testing.T, srv *awstest.Server, opts awsbackend.Options) (*awsbackend.Backend, *logBuffer) {
	t.Helper()
	awsEnv(t)
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Endpoint == "" {
		opts.Endpoint = srv.URL()
	}
	b, err := awsbackend.New(context.Background(), opts, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b, logs
}

// sdkClient is a plain SDK client against srv, for driving the server
// through the protocol the way an operator's tooling would.
func sdkClient(t *testing.T, srv *awstest.Server) *secretsmanager.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		o.BaseEndpoint = aws.String(srv.URL())
	})
}

// sdkPut writes data the way the runbook's tooling does: PutSecretValue,
// or CreateSecret for a new secret. Text goes as SecretString, other
// bytes as SecretBinary.
func sdkPut(t *testing.T, c *secretsmanager.Client, id string, data []byte) string {
	t.Helper()
	ctx := context.Background()
	var str *string
	var bin []byte
	if utf8.Valid(data) {
		str = aws.String(string(data))
	} else {
		bin = data
	}
	out, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &id, SecretString: str, SecretBinary: bin})
	if err == nil {
		return aws.ToString(out.VersionId)
	}
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("PutSecretValue(%q): %v", id, err)
	}
	cout, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &id, SecretString: str, SecretBinary: bin})
	if err != nil {
		t.Fatalf("CreateSecret(%q): %v", id, err)
	}
	return aws.ToString(cout.VersionId)
}

// kind names how the agent must treat err.
func kind(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, backend.ErrNotFound):
		return "not found"
	case errors.Is(err, backend.ErrDenied):
		return "denied"
	}
	return "transient"
}
