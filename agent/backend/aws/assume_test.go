package aws_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/backend"
	awsbackend "github.com/tradepulse/secret-injector/agent/backend/aws"
	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
)

const (
	// crossRole is the role in the secrets' account that pods assume.
	crossRole = "arn:aws:iam::111122223333:role/tradepulse-secrets-reader"
	// irsaRole is the pod's own role (IRSA).
	irsaRole = "arn:aws:iam::444455556666:role/ledger"
	// webToken stands for the projected service-account token.
	webToken = "eyJhbGciOiJSUzI1NiJ9.awstest-web-identity-token.c2lnbmF0dXJl"
	session  = "trading.ledger-7d9f8-x2k4q"
)

// stsBackend is newBackend with the SDK's STS calls pointed at srv
// (AWS_ENDPOINT_URL_STS, as a VPC endpoint would be configured) and env
// set on top of awsEnv.
func stsBackend(t *testing.T, srv *awstest.Server, opts awsbackend.Options, env map[string]string) (*awsbackend.Backend, *logBuffer) {
	t.Helper()
	awsEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL())
	t.Setenv("AWS_ROLE_SESSION_NAME", "")
	for k, v := range env {
		t.Setenv(k, v)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Endpoint = srv.URL()
	b, err := awsbackend.New(context.Background(), opts, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b, logs
}

// irsaEnv is what the EKS webhook gives a pod with IRSA: the role and
// the token file (the static keys of awsEnv are taken away, as a pod has
// none).
func irsaEnv(t *testing.T) map[string]string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(webToken), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
		"AWS_ROLE_ARN": irsaRole, "AWS_WEB_IDENTITY_TOKEN_FILE": file,
	}
}

// call is what a user checks of a request in CloudTrail: the operation,
// the role it acted as or on, the session, and who signed it.
type call struct {
	Op, Role, Session, SignedBy string
}

func calls(srv *awstest.Server) []call {
	var out []call
	for _, r := range srv.Requests() {
		c := call{Op: r.Operation, SignedBy: r.Auth.AccessKeyID}
		if r.RoleARN != "" {
			c.Role, c.Session = r.RoleARN, r.RoleSessionName
		} else {
			c.Role = r.Role
		}
		out = append(out, c)
	}
	return out
}

func TestAssumeRoleChain(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	srv.Put(secretRef, []byte(backendtest.Sentinel), false)
	srv.AddRole(crossRole)
	srv.RequireRole(crossRole)
	b, _ := stsBackend(t, srv, awsbackend.Options{RoleARN: crossRole, SessionName: session}, nil)

	ctx := context.Background()
	for range 2 {
		got, err := b.Fetch(ctx, secretRef)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if string(got.Data) != backendtest.Sentinel {
			t.Fatal("Fetch returned the wrong value")
		}
	}
	if _, err := b.Version(ctx, secretRef); err != nil {
		t.Fatalf("Version: %v", err)
	}
	issued := srv.Issued()
	if len(issued) != 1 {
		t.Fatalf("STS issued %d credentials, want 1 (cached)", len(issued))
	}
	assumed := issued[0].AccessKeyID
	want := []call{
		{Op: "AssumeRole", Role: crossRole, Session: session, SignedBy: testAKID},
		{Op: "GetSecretValue", Role: crossRole, SignedBy: assumed},
		{Op: "GetSecretValue", Role: crossRole, SignedBy: assumed},
		{Op: "DescribeSecret", Role: crossRole, SignedBy: assumed},
	}
	if diff := cmp.Diff(want, calls(srv)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	t.Run("without the role the server refuses the pod's own keys", func(t *testing.T) {
		plain, _ := stsBackend(t, srv, awsbackend.Options{}, nil)
		_, err := plain.Fetch(ctx, secretRef)
		if err == nil || !strings.Contains(err.Error(), awstest.CodeUnrecognizedClient) {
			t.Fatalf("Fetch with the pod's own keys: %v, want %s", err, awstest.CodeUnrecognizedClient)
		}
	})
}

// TestAssumeRoleRefresh: the cached credentials are replaced
// RefreshBeforeExpiry before they expire, and the next request is signed
// with the new ones.
func TestAssumeRoleRefresh(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	srv.Put(secretRef, []byte(backendtest.Sentinel), false)
	srv.AddRole(crossRole)
	srv.RequireRole(crossRole)
	srv.SetCredentialLifetime(awsbackend.RefreshBeforeExpiry + 2*time.Second)
	b, _ := stsBackend(t, srv, awsbackend.Options{RoleARN: crossRole, SessionName: session}, nil)

	ctx := context.Background()
	fetch := func() {
		t.Helper()
		if _, err := b.Fetch(ctx, secretRef); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
	}
	fetch()
	fetch()
	if n := len(srv.Issued()); n != 1 {
		t.Fatalf("%d AssumeRole before the refresh window, want 1", n)
	}
	// wait out the credentials' life outside the refresh window
	time.Sleep(time.Until(srv.Issued()[0].Expiration.Add(-awsbackend.RefreshBeforeExpiry)) + 100*time.Millisecond)
	fetch()
	issued := srv.Issued()
	if len(issued) != 2 {
		t.Fatalf("%d AssumeRole after the refresh window opened, want 2", len(issued))
	}
	reqs := calls(srv)
	if last := reqs[len(reqs)-1]; last.Op != "GetSecretValue" || last.SignedBy != issued[1].AccessKeyID {
		t.Errorf("last request %+v, want GetSecretValue signed by the refreshed key %s", last, issued[1].AccessKeyID)
	}
}

// TestIRSA: AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, as the EKS
// webhook sets them, make the SDK trade the token with
// AssumeRoleWithWebIdentity (unsigned), and Secrets Manager sees the
// role's credentials; with aws-role-arn on top, those credentials assume
// the cross-account role.
func TestIRSA(t *testing.T) {
	ctx := context.Background()
	t.Run("web identity", func(t *testing.T) {
		srv := awstest.NewServer()
		defer srv.Close()
		srv.Put(secretRef, []byte(backendtest.Sentinel), false)
		srv.AllowWebIdentity(irsaRole, webToken)
		srv.RequireRole(irsaRole)
		b, _ := stsBackend(t, srv, awsbackend.Options{}, irsaEnv(t))
		if _, err := b.Fetch(ctx, secretRef); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		got := calls(srv)
		if len(got) != 2 || got[0].Op != "AssumeRoleWithWebIdentity" || got[0].Role != irsaRole || got[0].SignedBy != "" {
			t.Fatalf("requests %+v, want an unsigned AssumeRoleWithWebIdentity for %s first", got, irsaRole)
		}
		if want := (call{Op: "GetSecretValue", Role: irsaRole, SignedBy: srv.Issued()[0].AccessKeyID}); got[1] != want {
			t.Errorf("request %+v, want %+v", got[1], want)
		}
	})
	t.Run("web identity then cross-account role", func(t *testing.T) {
		srv := awstest.NewServer()
		defer srv.Close()
		srv.Put(secretRef, []byte(backendtest.Sentinel), false)
		srv.AllowWebIdentity(irsaRole, webToken)
		srv.AddRole(crossRole, irsaRole) // trusts the pod's role only
		srv.RequireRole(crossRole)
		b, _ := stsBackend(t, srv, awsbackend.Options{RoleARN: crossRole, SessionName: session}, irsaEnv(t))
		if _, err := b.Fetch(ctx, secretRef); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		issued := srv.Issued()
		if len(issued) != 2 {
			t.Fatalf("STS issued %d credentials, want 2", len(issued))
		}
		got := calls(srv)
		if len(got) != 3 || got[0].Op != "AssumeRoleWithWebIdentity" {
			t.Fatalf("requests %+v", got)
		}
		want := []call{
			{Op: "AssumeRole", Role: crossRole, Session: session, SignedBy: issued[0].AccessKeyID},
			{Op: "GetSecretValue", Role: crossRole, SignedBy: issued[1].AccessKeyID},
		}
		if diff := cmp.Diff(want, got[1:]); diff != "" {
			t.Errorf("requests after the web identity (-want +got):\n%s", diff)
		}
	})
}

// TestSTSErrors: what an operator reads when STS refuses, for both ways
// of getting credentials; none of it carries a credential, the token or
// the secret's value.
func TestSTSErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*awstest.Server)
		opts  awsbackend.Options
		irsa  bool
		kind  string
		want  []string // in the error
	}{
		{"role not trusting the pod", func(s *awstest.Server) { s.AddRole(crossRole, "arn:aws:iam::444455556666:role/someone-else") },
			awsbackend.Options{RoleARN: crossRole, SessionName: session}, false, "denied",
			[]string{secretRef, "assuming role " + crossRole + ": STS AccessDenied:", "is not authorized to perform: sts:AssumeRole on resource: " + crossRole, "trust policy"}},
		{"role unknown to STS", func(*awstest.Server) {}, awsbackend.Options{RoleARN: crossRole, SessionName: session}, false, "denied",
			[]string{"assuming role " + crossRole + ": STS AccessDenied:"}},
		{"web identity not trusted for the role", func(s *awstest.Server) { s.AllowWebIdentity("arn:aws:iam::444455556666:role/other", webToken) },
			awsbackend.Options{}, true, "denied",
			[]string{"assuming (IRSA web identity) role " + irsaRole + ": STS AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity"}},
		{"web identity token rejected", func(*awstest.Server) {}, awsbackend.Options{}, true, "transient",
			[]string{"assuming (IRSA web identity) role " + irsaRole + ": STS InvalidIdentityToken:"}},
		{"assumed role lacks secretsmanager permission", func(s *awstest.Server) {
			s.AddRole(crossRole)
			s.RequireRole("arn:aws:iam::111122223333:role/the-right-one")
		}, awsbackend.Options{RoleARN: crossRole, SessionName: session}, false, "denied",
			[]string{"AccessDeniedException", "assumed-role/tradepulse-secrets-reader/" + session}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := awstest.NewServer()
			defer srv.Close()
			srv.Put(secretRef, []byte(backendtest.Sentinel), false)
			tt.setup(srv)
			var env map[string]string
			if tt.irsa {
				env = irsaEnv(t)
			}
			b, logs := stsBackend(t, srv, tt.opts, env)
			_, ferr := b.Fetch(context.Background(), secretRef)
			_, verr := b.Version(context.Background(), secretRef)
			t.Logf("Fetch error as the agent reports it: %v", ferr)
			for _, err := range []error{ferr, verr} {
				if got := kind(err); got != tt.kind {
					t.Errorf("error %v is %s, want %s", err, got, tt.kind)
				}
				for _, w := range tt.want {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("error %v does not say %q", err, w)
					}
				}
			}
			if tt.kind == "denied" && !errors.Is(ferr, backend.ErrDenied) {
				t.Errorf("Fetch error is not ErrDenied: %v", ferr)
			}
			secrets := []string{backendtest.Sentinel, webToken, "awstest-secret-access-key"}
			for _, c := range srv.Issued() {
				secrets = append(secrets, c.SecretAccessKey, c.SessionToken)
			}
			for _, s := range secrets {
				for where, text := range map[string]string{"Fetch error": errString(ferr), "Version error": errString(verr), "log": logs.String()} {
					if strings.Contains(text, s) {
						t.Errorf("%s carries a credential or value: %s", where, text)
					}
				}
			}
		})
	}
}

// TestNoCredentialsInLogs: a successful chain logs nothing of what it
// handled.
func TestNoCredentialsInLogs(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	srv.Put(secretRef, []byte(backendtest.Sentinel), false)
	srv.AllowWebIdentity(irsaRole, webToken)
	srv.AddRole(crossRole, irsaRole)
	srv.RequireRole(crossRole)
	b, logs := stsBackend(t, srv, awsbackend.Options{RoleARN: crossRole, SessionName: session}, irsaEnv(t))
	if _, err := b.Fetch(context.Background(), secretRef); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), crossRole) {
		t.Errorf("the log does not name the assumed role:\n%s", logs)
	}
	secrets := []string{backendtest.Sentinel, webToken}
	for _, c := range srv.Issued() {
		secrets = append(secrets, c.SecretAccessKey, c.SessionToken)
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log carries a credential or value:\n%s", logs)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSessionName(t *testing.T) {
	for _, tt := range []struct{ ns, pod, want string }{
		{"trading", "ledger-7d9f8-x2k4q", "trading.ledger-7d9f8-x2k4q"},
		{"", "", "secret-injector"},
		{"trading", "", "trading"},
		{"a", "", "si-a"},
		{"trading", "ledger/evil name", "trading.ledger-evil-name"},
		{"trading", strings.Repeat("x", 70) + "-tail9", strings.Repeat("x", 58) + "-tail9"},
	} {
		if got := awsbackend.SessionName(tt.ns, tt.pod); got != tt.want {
			t.Errorf("SessionName(%q, %q) = %q, want %q", tt.ns, tt.pod, got, tt.want)
		}
	}
}
