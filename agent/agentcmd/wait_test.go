package agentcmd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent"
	"github.com/tradepulse/secret-injector/agent/admin"
)

// statusAgent answers the admin API with a status that turns ready after
// readyAfter questions (never, if negative).
type statusAgent struct {
	asked      atomic.Int32
	readyAfter int32
}

func (a *statusAgent) Status() admin.Status {
	n := a.asked.Add(1)
	ready := a.readyAfter >= 0 && n > a.readyAfter
	return admin.Status{Backend: "vault", Mode: "sidecar", Ready: ready, Secrets: []admin.SecretStatus{
		{Name: "db", Ref: "database/creds/app", OK: ready, LastError: "permission denied (403): check the role's policy"},
		{Name: "api-key", Ref: "secret/data/app", OK: true, Version: "3"},
	}}
}

func (a *statusAgent) Refresh(context.Context, string) (admin.RefreshResult, error) {
	return admin.RefreshResult{}, errors.New("not here")
}

func (a *statusAgent) RevokeLeases(context.Context, string) (admin.RevokeResult, error) {
	return admin.RevokeResult{}, errors.New("not here")
}

func adminClient(t *testing.T, a admin.Agent) *admin.Client {
	srv := httptest.NewServer(admin.Handler(a, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	return &admin.Client{BaseURL: srv.URL}
}

// TestWaitReturnsOnceTheAgentIsReady: the postStart hook holds the app
// back exactly until the agent says ready.
func TestWaitReturnsOnceTheAgentIsReady(t *testing.T) {
	a := &statusAgent{readyAfter: 3}
	if err := waitReady(context.Background(), adminClient(t, a), time.Minute, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n := a.asked.Load(); n != 4 {
		t.Errorf("asked %d times, want 4 (ready at the 4th)", n)
	}
}

// TestWaitFailsWithTheReason: an agent that never gets ready fails the
// hook with each missing secret, its reference and the backend's answer,
// and leaves the same as the container's termination message.
func TestWaitFailsWithTheReason(t *testing.T) {
	err := waitReady(context.Background(), adminClient(t, &statusAgent{readyAfter: -1}), 50*time.Millisecond, time.Millisecond)
	if err == nil {
		t.Fatal("wait returned nil for an agent that never got ready")
	}
	for _, want := range []string{"within 50ms", "db (database/creds/app): permission denied (403)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "api-key") {
		t.Errorf("error %q names a secret that was written", err)
	}

	log := filepath.Join(t.TempDir(), "termination-log")
	if err := os.WriteFile(log, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := agent.WriteTerminationMessage(log, err); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(log)
	if !strings.Contains(string(got), "db (database/creds/app)") {
		t.Errorf("termination message %q lacks the missing secret", got)
	}
}

// TestWaitOnAnAgentThatNeverListens says so, and where to look.
func TestWaitOnAnAgentThatNeverListens(t *testing.T) {
	srv := httptest.NewServer(nil)
	url := srv.URL
	srv.Close()
	err := waitReady(context.Background(), &admin.Client{BaseURL: url}, 50*time.Millisecond, time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not answer") || !strings.Contains(err.Error(), "kubectl logs") {
		t.Fatalf("err = %v, want one saying the agent did not answer and where its log is", err)
	}
}
