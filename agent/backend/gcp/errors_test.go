package gcp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// fakeAccessor answers every call with err and records what it was given.
type fakeAccessor struct {
	err      error
	deadline time.Time
	hasDl    bool
	opts     []gax.CallOption
}

func (f *fakeAccessor) AccessSecretVersion(ctx context.Context, req *secretmanagerpb.AccessSecretVersionRequest, opts ...gax.CallOption) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	f.record(ctx, opts)
	if f.err != nil {
		return nil, f.err
	}
	return &secretmanagerpb.AccessSecretVersionResponse{Name: "projects/p/secrets/s/versions/1", Payload: &secretmanagerpb.SecretPayload{Data: []byte("v")}}, nil
}

func (f *fakeAccessor) GetSecretVersion(ctx context.Context, req *secretmanagerpb.GetSecretVersionRequest, opts ...gax.CallOption) (*secretmanagerpb.SecretVersion, error) {
	f.record(ctx, opts)
	if f.err != nil {
		return nil, f.err
	}
	return &secretmanagerpb.SecretVersion{Name: "projects/p/secrets/s/versions/1", State: secretmanagerpb.SecretVersion_ENABLED}, nil
}

func (f *fakeAccessor) Close() error { return nil }

func (f *fakeAccessor) record(ctx context.Context, opts []gax.CallOption) {
	f.deadline, f.hasDl = ctx.Deadline()
	f.opts = opts
}

// sdkError wraps a status the way the SDK returns it (gax turns gRPC
// errors into *apierror.APIError).
func sdkError(c codes.Code) error {
	err := status.Error(c, "Secret [projects/p/secrets/s] says "+c.String())
	if ae, ok := apierror.FromError(err); ok {
		return ae
	}
	return err
}

func TestErrorClasses(t *testing.T) {
	const notFound, denied, transient = "not found", "denied", "transient"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"NotFound", sdkError(codes.NotFound), notFound},
		{"FailedPrecondition (disabled or destroyed)", sdkError(codes.FailedPrecondition), notFound},
		{"PermissionDenied", sdkError(codes.PermissionDenied), denied},
		{"Unauthenticated", sdkError(codes.Unauthenticated), denied},
		{"ResourceExhausted", sdkError(codes.ResourceExhausted), transient},
		{"Unavailable", sdkError(codes.Unavailable), transient},
		{"DeadlineExceeded", sdkError(codes.DeadlineExceeded), transient},
		{"Internal", sdkError(codes.Internal), transient},
		{"Unknown", sdkError(codes.Unknown), transient},
		{"network", fmt.Errorf("dial tcp 10.0.0.1:443: connect: connection refused"), transient},
		{"context deadline", context.DeadlineExceeded, transient},
	}
	class := func(err error) string {
		switch {
		case errors.Is(err, backend.ErrNotFound):
			return notFound
		case errors.Is(err, backend.ErrDenied):
			return denied
		case err != nil:
			return transient
		}
		return "no error"
	}
	const ref = "tradepulse/exchanges/binance/api-key"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(&fakeAccessor{err: tc.err}, "p", nil)
			_, ferr := b.Fetch(context.Background(), ref)
			_, verr := b.Version(context.Background(), ref)
			for op, err := range map[string]error{"Fetch": ferr, "Version": verr} {
				if got := class(err); got != tc.want {
					t.Errorf("%s: %v is %s, want %s", op, err, got, tc.want)
				}
				if !strings.Contains(err.Error(), `"`+ref+`"`) {
					t.Errorf("%s: error %q does not name the reference", op, err)
				}
			}
		})
	}
}

func TestEveryCallHasADeadline(t *testing.T) {
	tests := []struct {
		name     string
		ctx      func() (context.Context, context.CancelFunc)
		min, max time.Duration
	}{
		{"default when the caller sets none", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, DefaultTimeout - time.Second, DefaultTimeout},
		{"the caller's own", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 2*time.Second)
		}, time.Second, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAccessor{}
			b := newBackend(f, "p", nil)
			ops := map[string]func(context.Context) error{
				"Fetch":   func(ctx context.Context) error { _, err := b.Fetch(ctx, "s"); return err },
				"Version": func(ctx context.Context) error { _, err := b.Version(ctx, "s"); return err },
			}
			for op, call := range ops {
				ctx, cancel := tc.ctx()
				if err := call(ctx); err != nil {
					t.Fatalf("%s: %v", op, err)
				}
				cancel()
				left := time.Until(f.deadline)
				if !f.hasDl || left < tc.min || left > tc.max {
					t.Errorf("%s: deadline set %v, %s left; want %s to %s", op, f.hasDl, left, tc.min, tc.max)
				}
			}
		})
	}
}

func TestSDKRetriesAreOff(t *testing.T) {
	f := &fakeAccessor{}
	b := newBackend(f, "p", nil)
	for op, call := range map[string]func() error{
		"Fetch":   func() error { _, err := b.Fetch(context.Background(), "s"); return err },
		"Version": func() error { _, err := b.Version(context.Background(), "s"); return err },
	} {
		if err := call(); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		var settings gax.CallSettings
		for _, o := range f.opts {
			o.Resolve(&settings)
		}
		if settings.Retry == nil || settings.Retry() != nil {
			t.Errorf("%s: call options leave the SDK's retries on", op)
		}
	}
}

func TestDisabledVersionMetadataReadsAsGone(t *testing.T) {
	for _, state := range []secretmanagerpb.SecretVersion_State{
		secretmanagerpb.SecretVersion_DISABLED,
		secretmanagerpb.SecretVersion_DESTROYED,
		secretmanagerpb.SecretVersion_STATE_UNSPECIFIED,
	} {
		_, err := checkVersion("r", &secretmanagerpb.SecretVersion{Name: "projects/p/secrets/s/versions/3", State: state})
		if !errors.Is(err, backend.ErrNotFound) || !strings.Contains(err.Error(), strings.ToLower(state.String())) {
			t.Errorf("state %s: %v, want ErrNotFound naming the state", state, err)
		}
	}
}
