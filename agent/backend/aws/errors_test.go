package aws_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/backend"
	awsbackend "github.com/tradepulse/secret-injector/agent/backend/aws"
	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
)

const secretRef = "tradepulse/exchanges/binance/api-secret"

// TestErrorMapping puts the server in each failure state and checks how
// Fetch and Version classify it, that the error names the reference, and
// that the SDK made exactly one request: the agent's backoff, not the
// SDK's retryer, decides when to try again.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name  string
		ref   string
		setup func(t *testing.T, srv *awstest.Server)
		want  string // for both Fetch and Version
	}{
		{"missing", "tradepulse/never-created", nil, "not found"},
		{"deleted", secretRef, func(_ *testing.T, s *awstest.Server) { s.Delete(secretRef) }, "not found"},
		{"scheduled for deletion", secretRef, func(t *testing.T, s *awstest.Server) {
			_, err := sdkClient(t, s).DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(secretRef)})
			if err != nil {
				t.Fatal(err)
			}
		}, "not found"},
		{"missing stage", secretRef + "#AWSPENDING", nil, "not found"},
		{"access denied", secretRef, func(_ *testing.T, s *awstest.Server) { s.Deny(secretRef, true) }, "denied"},
		{"denied by ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + secretRef, func(_ *testing.T, s *awstest.Server) { s.Deny(secretRef, true) }, "denied"},
		{"decryption failure", secretRef, func(_ *testing.T, s *awstest.Server) { s.FailWith("DecryptionFailure") }, "denied"},
		{"throttled", secretRef, func(_ *testing.T, s *awstest.Server) { s.Throttle(true) }, "transient"},
		{"internal service error", secretRef, func(_ *testing.T, s *awstest.Server) { s.FailWith("InternalServiceError") }, "transient"},
		{"service unavailable", secretRef, func(_ *testing.T, s *awstest.Server) { s.FailWith("ServiceUnavailable") }, "transient"},
		{"other invalid request", secretRef, func(_ *testing.T, s *awstest.Server) { s.FailWith("InvalidRequestException") }, "transient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := awstest.NewServer()
			defer srv.Close()
			b, _ := newBackend(t, srv, awsbackend.Options{})
			srv.Put(secretRef, []byte(backendtest.Sentinel), false)
			if tt.setup != nil {
				tt.setup(t, srv)
			}
			ctx := context.Background()

			srv.ResetCalls()
			_, err := b.Fetch(ctx, tt.ref)
			check(t, "Fetch", tt.ref, err, tt.want)
			if diff := cmp.Diff(map[string]int{"GetSecretValue": 1}, srv.Calls()); diff != "" {
				t.Errorf("Fetch requests (-want +got):\n%s", diff)
			}

			srv.ResetCalls()
			_, err = b.Version(ctx, tt.ref)
			check(t, "Version", tt.ref, err, tt.want)
			if diff := cmp.Diff(map[string]int{"DescribeSecret": 1}, srv.Calls()); diff != "" {
				t.Errorf("Version requests (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("server down", func(t *testing.T) {
		srv := awstest.NewServer()
		b, _ := newBackend(t, srv, awsbackend.Options{})
		srv.Close()
		_, err := b.Fetch(context.Background(), secretRef)
		check(t, "Fetch", secretRef, err, "transient")
		_, err = b.Version(context.Background(), secretRef)
		check(t, "Version", secretRef, err, "transient")
	})
}

func check(t *testing.T, op, ref string, err error, want string) {
	t.Helper()
	t.Logf("%s(%q): %v", op, ref, err)
	if got := kind(err); got != want {
		t.Errorf("%s(%q) = %v; want %s", op, ref, err, want)
		return
	}
	if backend.FailsClosed(err) != (want != "transient") {
		t.Errorf("%s(%q): FailsClosed = %v for %s", op, ref, backend.FailsClosed(err), want)
	}
	if !strings.Contains(err.Error(), ref) {
		t.Errorf("%s error %q does not name %q", op, err, ref)
	}
	if strings.Contains(err.Error(), backendtest.Sentinel) {
		t.Errorf("%s error leaks the value: %v", op, err)
	}
}

// TestOneRequestPerCall: an unchanged secret costs one DescribeSecret per
// poll and never downloads the value.
func TestOneRequestPerCall(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	b, _ := newBackend(t, srv, awsbackend.Options{})
	ctx := context.Background()
	srv.Put(secretRef, []byte("v1"), false)
	s, err := b.Fetch(ctx, secretRef)
	if err != nil {
		t.Fatal(err)
	}

	srv.ResetCalls()
	for range 3 {
		v, err := b.Version(ctx, secretRef)
		if err != nil || v != s.Version {
			t.Fatalf("Version = %q, %v; want %q", v, err, s.Version)
		}
	}
	if diff := cmp.Diff(map[string]int{"DescribeSecret": 3}, srv.Calls()); diff != "" {
		t.Errorf("three polls of an unchanged secret (-want +got):\n%s", diff)
	}

	srv.ResetCalls()
	if _, err := b.Fetch(ctx, secretRef); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"GetSecretValue": 1}, srv.Calls()); diff != "" {
		t.Errorf("one fetch (-want +got):\n%s", diff)
	}
}

// TestRequestsAreSigned checks the SigV4 shape of what the client sends,
// and that Options.Region wins over the environment.
func TestRequestsAreSigned(t *testing.T) {
	tests := []struct {
		name         string
		env          map[string]string
		opts         awsbackend.Options
		wantRegion   string
		sessionToken bool
	}{
		{"environment", nil, awsbackend.Options{}, "us-east-1", false},
		{"region option", map[string]string{"AWS_REGION": "eu-west-1"}, awsbackend.Options{Region: "us-east-1"}, "us-east-1", false},
		{"temporary credentials", map[string]string{"AWS_SESSION_TOKEN": "session-token"}, awsbackend.Options{}, "us-east-1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := awstest.NewServer()
			defer srv.Close()
			awsEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tt.opts.Endpoint = srv.URL()
			b, err := awsbackend.New(context.Background(), tt.opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			srv.Put(secretRef, []byte("v"), false)
			if _, err := b.Fetch(context.Background(), secretRef); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Version(context.Background(), secretRef); err != nil {
				t.Fatal(err)
			}
			type seen struct {
				Target, AuthError, AccessKeyID, Region, Service string
				SessionToken                                    bool
				SignsTarget                                     bool
			}
			var got []seen
			for _, r := range srv.Requests() {
				got = append(got, seen{
					Target: r.Target, AuthError: r.AuthError, AccessKeyID: r.Auth.AccessKeyID,
					Region: r.Auth.Region, Service: r.Auth.Service, SessionToken: r.Auth.SessionToken,
					SignsTarget: slices.Contains(r.Auth.SignedHeaders, "x-amz-target"),
				})
			}
			want := []seen{
				{"secretsmanager.GetSecretValue", "", testAKID, tt.wantRegion, "secretsmanager", tt.sessionToken, true},
				{"secretsmanager.DescribeSecret", "", testAKID, tt.wantRegion, "secretsmanager", tt.sessionToken, true},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewNeedsRegion(t *testing.T) {
	awsEnv(t)
	t.Setenv("AWS_REGION", "")
	_, err := awsbackend.New(context.Background(), awsbackend.Options{Endpoint: "http://127.0.0.1:1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "region") {
		t.Fatalf("New without a region: %v, want an error about the region", err)
	}
}

// TestDeadlines: a call gives up at the backend's timeout when the caller
// set no deadline, and at the caller's deadline otherwise. The server's
// latency is real network time, which testing/synctest cannot fake, so
// the timeouts are short instead.
func TestDeadlines(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	srv.Put(secretRef, []byte("v"), false)
	srv.SetLatency(time.Minute)

	calls := map[string]func(b *awsbackend.Backend, ctx context.Context) error{
		"Fetch": func(b *awsbackend.Backend, ctx context.Context) error { _, err := b.Fetch(ctx, secretRef); return err },
		"Version": func(b *awsbackend.Backend, ctx context.Context) error {
			_, err := b.Version(ctx, secretRef)
			return err
		},
	}
	for name, call := range calls {
		t.Run(name+" default timeout", func(t *testing.T) {
			b, _ := newBackend(t, srv, awsbackend.Options{Timeout: 100 * time.Millisecond})
			start := time.Now()
			err := call(b, context.Background())
			if kind(err) != "transient" || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s against a stalled server: %v, want a transient deadline error", name, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s took %v, want about 100ms", name, d)
			}
		})
		t.Run(name+" caller deadline", func(t *testing.T) {
			b, _ := newBackend(t, srv, awsbackend.Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := call(b, ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: %v, want the caller's deadline", name, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s took %v, want about 100ms", name, d)
			}
		})
	}
}

// TestBadResponsesDoNotLeak feeds responses the SDK cannot decode. The
// decoder's message may quote the body, so the error must not carry it.
func TestBadResponsesDoNotLeak(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		ctype   string
		body    string
		wantMsg string
	}{
		{"value of the wrong type", 200, "application/x-amz-json-1.1", `{"VersionId":"v","SecretString":{"k":"` + backendtest.Sentinel + `"}}`, "HTTP status 200"},
		{"truncated JSON", 200, "application/x-amz-json-1.1", `{"VersionId":"v","SecretString":"` + backendtest.Sentinel, "HTTP status 200"},
		{"proxy error page", 502, "text/html", `<html><body>bad gateway ` + backendtest.Sentinel + `</body></html>`, "HTTP status 502"},
		{"no value", 200, "application/x-amz-json-1.1", `{"VersionId":"v","Name":"x"}`, "neither SecretString nor SecretBinary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer ts.Close()
			awsEnv(t)
			logs := &logBuffer{}
			log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			b, err := awsbackend.New(context.Background(), awsbackend.Options{Endpoint: ts.URL}, log)
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.Fetch(context.Background(), secretRef)
			check(t, "Fetch", secretRef, err, "transient")
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			if strings.Contains(logs.String(), backendtest.Sentinel) {
				t.Errorf("logs leak the value")
			}
		})
	}
}

// TestSentinelNeverLeaks drives a value through every path — success by
// stage, version and ARN, and each failure — and checks every error and
// every debug log line.
func TestSentinelNeverLeaks(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	b, logs := newBackend(t, srv, awsbackend.Options{Timeout: 50 * time.Millisecond})
	ctx := context.Background()
	v1 := srv.Put(secretRef, []byte("old-"+backendtest.Sentinel), false)
	srv.Put(secretRef, []byte(backendtest.Sentinel), false)
	srv.Put("tradepulse/binary", append([]byte{0xff, 0}, backendtest.Sentinel...), true)

	refs := []string{secretRef, secretRef + "#AWSPREVIOUS", secretRef + "#version-id=" + v1, srv.ARN(secretRef), "tradepulse/binary", secretRef + "#MISSING"}
	faults := map[string]func(on bool){
		"none":       func(bool) {},
		"denied":     func(on bool) { srv.Deny(secretRef, on) },
		"throttled":  srv.Throttle,
		"decryption": func(on bool) { srv.FailWith(map[bool]string{true: "DecryptionFailure"}[on]) },
		"internal":   func(on bool) { srv.FailWith(map[bool]string{true: "InternalServiceError"}[on]) },
		"stalled":    func(on bool) { srv.SetLatency(map[bool]time.Duration{true: time.Minute}[on]) },
	}
	var errs []error
	for _, fault := range faults {
		fault(true)
		for _, ref := range refs {
			if _, err := b.Fetch(ctx, ref); err != nil {
				errs = append(errs, err)
			}
			if _, err := b.Version(ctx, ref); err != nil {
				errs = append(errs, err)
			}
		}
		fault(false)
	}
	_, err := sdkClient(t, srv).DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(secretRef)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		_, err := b.Fetch(ctx, ref)
		errs = append(errs, err)
	}
	if len(errs) < 20 {
		t.Fatalf("only %d failures exercised", len(errs))
	}
	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), backendtest.Sentinel) {
			t.Errorf("error leaks the value: %v", err)
		}
	}
	if strings.Contains(logs.String(), backendtest.Sentinel) {
		t.Errorf("logs leak the value:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "fetched secret") || !strings.Contains(logs.String(), "fetch failed") {
		t.Errorf("debug logs missing the fetch paths:\n%s", logs)
	}
}
