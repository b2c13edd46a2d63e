package gcp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/gcp"
)

func TestReferences(t *testing.T) {
	srv := newServer(t)
	b := newBackend(t, srv, nil)
	path := "tradepulse/exchanges/binance/api-key"
	name := secretName(t, path)
	v1 := srv.Put(name, []byte("one"))
	v2 := srv.Put(name, []byte("two"))
	plain := srv.Put("projects/"+project+"/secrets/legacy_KEY-1", []byte("plain"))
	other := srv.Put("projects/other-project/secrets/shared", []byte("other"))

	tests := []struct {
		name, ref, data, version string
	}{
		{"runbook path means latest", path, "two", v2},
		{"runbook path pinned", path + "@1", "one", v1},
		{"runbook path explicit latest", path + "@latest", "two", v2},
		{"mapped ID", "tradepulse--exchanges--binance--api-key", "two", v2},
		{"mapped ID pinned", "tradepulse--exchanges--binance--api-key@1", "one", v1},
		{"full name means latest", name, "two", v2},
		{"full name pinned", name + "/versions/1", "one", v1},
		{"full name latest", name + "/versions/latest", "two", v2},
		{"plain ID used as is", "legacy_KEY-1", "plain", plain},
		{"another project by full name", "projects/other-project/secrets/shared", "other", other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := b.Fetch(ctx, tc.ref)
			if err != nil {
				t.Fatalf("Fetch(%q): %v", tc.ref, err)
			}
			got := struct{ Data, Version string }{string(s.Data), s.Version}
			want := struct{ Data, Version string }{tc.data, tc.version}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Fetch(%q) (-want +got):\n%s", tc.ref, diff)
			}
			v, err := b.Version(ctx, tc.ref)
			if err != nil || v != tc.version {
				t.Errorf("Version(%q) = %q, %v; want %q", tc.ref, v, err, tc.version)
			}
		})
	}
}

func TestInvalidReferencesFailClosedWithoutACall(t *testing.T) {
	srv := newServer(t)
	b := newBackend(t, srv, nil)
	tests := []struct{ name, ref, says string }{
		{"empty", "", "non-empty"},
		{"surrounding spaces", " tradepulse/mlflow", "spaces"},
		{"empty element", "tradepulse//mlflow", "empty path element"},
		{"element with double dash", "tradepulse/a--b", `must not contain "--"`},
		{"element starting with dash", "tradepulse/-key", "start or end with '-'"},
		{"element ending with dash", "tradepulse/key-", "start or end with '-'"},
		{"dot in path", "tradepulse/api.key", "may hold only"},
		{"dot in ID", "api.key", "may hold only"},
		{"empty version", "tradepulse/mlflow@", "after '@'"},
		{"version zero", "tradepulse/mlflow@0", "after '@'"},
		{"version with leading zero", "tradepulse/mlflow@07", "after '@'"},
		{"truncated full name", "projects/p/secrets", "projects/P/secrets/S"},
		{"full name with @", "projects/tradepulse-test/secrets/s@3", "may hold only"},
		{"upper-case project", "projects/Tradepulse/secrets/s", "project"},
		{"regional, multi-region location", "projects/p/locations/eu/secrets/s", `location "eu" is not a region`},
		{"regional, bad location", "projects/p/locations/Europe-West1/secrets/s", "is not a region"},
		{"regional, no secret", "projects/p/locations/europe-west1/secrets", "projects/P/locations/L/secrets/S"},
		{"bad full version", "projects/p/secrets/s/versions/0", "version"},
		{"too long", strings.Repeat("a", 256), "255"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.ResetCalls()
			_, err := b.Fetch(context.Background(), tc.ref)
			checkInvalid(t, "Fetch", tc.ref, tc.says, err)
			_, err = b.Version(context.Background(), tc.ref)
			checkInvalid(t, "Version", tc.ref, tc.says, err)
			if calls := srv.Calls(); len(calls) != 0 {
				t.Errorf("an invalid reference made calls: %v", calls)
			}
		})
	}
}

func checkInvalid(t *testing.T, op, ref, says string, err error) {
	t.Helper()
	if !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("%s(%q) = %v, want ErrNotFound", op, ref, err)
	}
	if !strings.Contains(err.Error(), ref) || !strings.Contains(err.Error(), says) {
		t.Errorf("%s(%q) error %q does not name the reference and say %q", op, ref, err, says)
	}
}

func TestShortNameNeedsProject(t *testing.T) {
	srv := newServer(t)
	full := srv.Put("projects/p1/secrets/tradepulse--mlflow", []byte("x"))
	b, err := gcp.New(context.Background(), gcp.Options{ClientOptions: srv.ClientOptions()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	_, err = b.Fetch(context.Background(), "tradepulse/mlflow")
	if !errors.Is(err, backend.ErrNotFound) || !strings.Contains(err.Error(), `"tradepulse/mlflow"`) || !strings.Contains(err.Error(), "project") {
		t.Errorf("Fetch of a short name without a project: %v; want ErrNotFound naming the ref and the missing project", err)
	}
	if s, err := b.Fetch(context.Background(), "projects/p1/secrets/tradepulse--mlflow"); err != nil || s.Version != full {
		t.Errorf("Fetch by full name without a project = %q, %v; want version %q", s.Version, err, full)
	}
}

func TestNewRejectsBadProject(t *testing.T) {
	_, err := gcp.New(context.Background(), gcp.Options{Project: "projects/x"}, nil)
	if err == nil || !strings.Contains(err.Error(), "projects/x") {
		t.Errorf("New with project %q: %v, want an error naming it", "projects/x", err)
	}
}

// Secret Manager's "latest" is the most recently created version whatever
// its state: disabling it makes the secret read as gone, even though an
// older version is enabled (google-github-actions/get-secretmanager-secrets#268
// shows the real service answering FAILED_PRECONDITION for latest).
func TestLatestFollowsSecretManagerSemantics(t *testing.T) {
	srv := newServer(t)
	adm := newAdmin(t, srv)
	b := newBackend(t, srv, nil)
	ctx := context.Background()
	ref := "tradepulse/exchanges/kraken/api-key"
	name := secretName(t, ref)
	v1 := adm.put(t, name, []byte("one"))
	v2 := adm.put(t, name, []byte("two"))

	expectGone := func(t *testing.T, r string) {
		t.Helper()
		if _, err := b.Fetch(ctx, r); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Fetch(%q) = %v, want ErrNotFound", r, err)
		}
		if _, err := b.Version(ctx, r); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Version(%q) = %v, want ErrNotFound", r, err)
		}
	}
	expect := func(t *testing.T, r, data, version string) {
		t.Helper()
		s, err := b.Fetch(ctx, r)
		if err != nil || string(s.Data) != data || s.Version != version {
			t.Errorf("Fetch(%q) = %q %q, %v; want %q %q", r, s.Data, s.Version, err, data, version)
		}
		if v, err := b.Version(ctx, r); err != nil || v != version {
			t.Errorf("Version(%q) = %q, %v; want %q", r, v, err, version)
		}
	}

	t.Run("disabled latest reads as gone", func(t *testing.T) {
		adm.disable(t, v2)
		expectGone(t, ref)
		expect(t, ref+"@1", "one", v1)
	})
	t.Run("re-enabled latest is served again", func(t *testing.T) {
		adm.enable(t, v2)
		expect(t, ref, "two", v2)
	})
	t.Run("disabled pinned version reads as gone", func(t *testing.T) {
		adm.disable(t, v1)
		expectGone(t, ref+"@1")
		expect(t, ref, "two", v2)
	})
	t.Run("destroyed latest reads as gone until a new version", func(t *testing.T) {
		adm.destroy(t, v2)
		expectGone(t, ref)
		v3 := adm.put(t, name, []byte("three"))
		expect(t, ref, "three", v3)
	})
}

func TestChecksumMismatchIsTransient(t *testing.T) {
	srv := newServer(t)
	b := newBackend(t, srv, nil)
	ref := "tradepulse/postgres-tls"
	srv.Put(secretName(t, ref), []byte(`{"key":"`+sentinel+`"}`))
	srv.CorruptChecksums(true)

	s, err := b.Fetch(context.Background(), ref)
	if err == nil || backend.FailsClosed(err) {
		t.Fatalf("Fetch with a bad checksum: %v, want a transient error", err)
	}
	if !strings.Contains(err.Error(), "payload checksum mismatch, will retry") || !strings.Contains(err.Error(), ref) {
		t.Errorf("error %q does not name the reference and the mismatch", err)
	}
	if s.Data != nil || strings.Contains(err.Error(), sentinel) {
		t.Errorf("a corrupt payload escaped: data %q, error %q", s.Data, err)
	}

	srv.CorruptChecksums(false)
	if _, err := b.Fetch(context.Background(), ref); err != nil {
		t.Errorf("Fetch after the corruption ended: %v", err)
	}
}

func TestRequestCounts(t *testing.T) {
	srv := newServer(t)
	b := newBackend(t, srv, nil)
	ctx := context.Background()
	ref := "tradepulse/wandb"
	srv.Put(secretName(t, ref), []byte("k"))
	held, err := b.Fetch(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("unchanged version check reads no payload", func(t *testing.T) {
		srv.ResetCalls()
		v, err := b.Version(ctx, ref)
		if err != nil || v != held.Version {
			t.Fatalf("Version = %q, %v; want %q", v, err, held.Version)
		}
		if diff := cmp.Diff(map[string]int{"GetSecretVersion": 1}, srv.Calls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})
	t.Run("fetch is one call", func(t *testing.T) {
		srv.ResetCalls()
		if _, err := b.Fetch(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]int{"AccessSecretVersion": 1}, srv.Calls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})
	t.Run("throttled calls are not retried by the SDK", func(t *testing.T) {
		srv.Throttle(true)
		defer srv.Throttle(false)
		srv.ResetCalls()
		if _, err := b.Fetch(ctx, ref); err == nil || backend.FailsClosed(err) {
			t.Fatalf("throttled Fetch: %v, want a transient error", err)
		}
		if _, err := b.Version(ctx, ref); err == nil || backend.FailsClosed(err) {
			t.Fatalf("throttled Version: %v, want a transient error", err)
		}
		if diff := cmp.Diff(map[string]int{"AccessSecretVersion": 1, "GetSecretVersion": 1}, srv.Calls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})
}

// An identity holding only roles/secretmanager.secretAccessor may not read
// version metadata: Version falls back to reading the payload instead of
// failing closed, and remembers to skip the denied call.
func TestAccessorOnlyIdentity(t *testing.T) {
	srv := newServer(t)
	var logs strings.Builder
	b := newBackend(t, srv, newLogger(&logs))
	ctx := context.Background()
	ref := "tradepulse/exchanges/binance/api-secret"
	name := secretName(t, ref)
	v1 := srv.Put(name, []byte("one"))
	srv.DenyMetadata(name, true)

	for i, want := range []map[string]int{
		{"GetSecretVersion": 1, "AccessSecretVersion": 1},
		{"AccessSecretVersion": 1},
	} {
		srv.ResetCalls()
		v, err := b.Version(ctx, ref)
		if err != nil || v != v1 {
			t.Fatalf("check %d: Version = %q, %v; want %q", i, v, err, v1)
		}
		if diff := cmp.Diff(want, srv.Calls()); diff != "" {
			t.Errorf("check %d calls (-want +got):\n%s", i, diff)
		}
	}
	if n := strings.Count(logs.String(), "metadata is not readable"); n != 1 {
		t.Errorf("logged the fallback %d times, want once:\n%s", n, logs.String())
	}

	v2 := srv.Put(name, []byte("two"))
	if v, err := b.Version(ctx, ref); err != nil || v != v2 {
		t.Errorf("Version after an update = %q, %v; want %q", v, err, v2)
	}
	srv.Deny(name, true)
	if _, err := b.Version(ctx, ref); !errors.Is(err, backend.ErrDenied) {
		t.Errorf("Version with all access denied = %v, want ErrDenied", err)
	}
}

func TestRoutingHeaderSent(t *testing.T) {
	srv := newServer(t)
	b := newBackend(t, srv, nil)
	ref := "tradepulse/mlflow"
	srv.Put(secretName(t, ref), []byte("x"))
	if _, err := b.Fetch(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Version(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	want := []string{"name=projects%2Ftradepulse-test%2Fsecrets%2Ftradepulse--mlflow%2Fversions%2Flatest"}
	for _, method := range []string{"AccessSecretVersion", "GetSecretVersion"} {
		if diff := cmp.Diff(want, srv.RequestParams(method)); diff != "" {
			t.Errorf("%s x-goog-request-params (-want +got):\n%s", method, diff)
		}
	}
}

func TestUnreachableServerIsTransient(t *testing.T) {
	srv := newServer(t)
	b := newBackend(t, srv, nil)
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, op := range []func() error{
		func() error { _, err := b.Fetch(ctx, "tradepulse/mlflow"); return err },
		func() error { _, err := b.Version(ctx, "tradepulse/mlflow"); return err },
	} {
		if err := op(); err == nil || backend.FailsClosed(err) || !strings.Contains(err.Error(), "tradepulse/mlflow") {
			t.Errorf("call to a stopped server: %v, want a transient error naming the ref", err)
		}
	}
}

func TestSlowServerHitsTheCallersDeadline(t *testing.T) {
	srv := newServer(t)
	b := newBackend(t, srv, nil)
	ref := "tradepulse/mlflow"
	srv.Put(secretName(t, ref), []byte("x"))
	srv.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Fetch(ctx, ref)
	if err == nil || backend.FailsClosed(err) {
		t.Fatalf("Fetch past its deadline: %v, want a transient error", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Fetch took %s, its deadline was 50ms", took)
	}
}
