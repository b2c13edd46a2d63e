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

// TestRegionalSecrets: a regional reference is read from its location's
// endpoint with the real client, and only from there; a secret of the same
// ID elsewhere (global, another location) is a different secret.
func TestRegionalSecrets(t *testing.T) {
	global := newServer(t)
	eu := newRegionalServer(t, "europe-west4")
	us := newRegionalServer(t, "us-central1")
	b := newRegionalBackend(t, global, nil, eu, us)
	ctx := context.Background()

	const id = "tradepulse--mlflow"
	euName := "projects/" + project + "/locations/europe-west4/secrets/" + id
	usName := "projects/" + project + "/locations/us-central1/secrets/" + id
	euV1 := newAdmin(t, eu).put(t, euName, []byte("eu-one"))
	euV2 := newAdmin(t, eu).put(t, euName, []byte("eu-two"))
	usV1 := newAdmin(t, us).put(t, usName, []byte("us-one"))
	globalV1 := newAdmin(t, global).put(t, "projects/"+project+"/secrets/"+id, []byte("global-one"))
	for _, s := range []interface{ ResetCalls() }{global, eu, us} {
		s.ResetCalls()
	}

	tests := []struct{ ref, data, version string }{
		{euName, "eu-two", euV2},
		{euName + "/versions/1", "eu-one", euV1},
		{euName + "/versions/latest", "eu-two", euV2},
		{usName, "us-one", usV1},
		{"tradepulse/mlflow", "global-one", globalV1},
	}
	for _, tc := range tests {
		s, err := b.Fetch(ctx, tc.ref)
		if err != nil {
			t.Fatalf("Fetch(%q): %v", tc.ref, err)
		}
		if diff := cmp.Diff([]string{tc.data, tc.version}, []string{string(s.Data), s.Version}); diff != "" {
			t.Errorf("Fetch(%q) (-want +got):\n%s", tc.ref, diff)
		}
		if v, err := b.Version(ctx, tc.ref); err != nil || v != tc.version {
			t.Errorf("Version(%q) = %q, %v; want %q", tc.ref, v, err, tc.version)
		}
	}
	want := map[string]map[string]int{
		"global":       {"AccessSecretVersion": 1, "GetSecretVersion": 1},
		"europe-west4": {"AccessSecretVersion": 3, "GetSecretVersion": 3},
		"us-central1":  {"AccessSecretVersion": 1, "GetSecretVersion": 1},
	}
	got := map[string]map[string]int{"global": global.Calls(), "europe-west4": eu.Calls(), "us-central1": us.Calls()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls per endpoint (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"name=projects%2Ftradepulse-test%2Flocations%2Fus-central1%2Fsecrets%2Ftradepulse--mlflow%2Fversions%2Flatest"},
		us.RequestParams("AccessSecretVersion")); diff != "" {
		t.Errorf("routing header on the regional endpoint (-want +got):\n%s", diff)
	}
}

// TestRegionalErrors: a regional endpoint's answers are classified as the
// global one's, and the errors name the reference.
func TestRegionalErrors(t *testing.T) {
	eu := newRegionalServer(t, "europe-west4")
	b := newRegionalBackend(t, newServer(t), nil, eu)
	ctx := context.Background()
	name := "projects/" + project + "/locations/europe-west4/secrets/tradepulse--wandb"

	if _, err := b.Fetch(ctx, name); !errors.Is(err, backend.ErrNotFound) || !strings.Contains(err.Error(), name) {
		t.Errorf("Fetch of a missing regional secret = %v, want ErrNotFound naming it", err)
	}
	eu.Put(name, []byte(sentinel))
	eu.Deny(name, true)
	_, err := b.Fetch(ctx, name)
	if !errors.Is(err, backend.ErrDenied) || !strings.Contains(err.Error(), name) {
		t.Errorf("Fetch of a denied regional secret = %v, want ErrDenied naming it", err)
	}
	if _, err := b.Version(ctx, name); !errors.Is(err, backend.ErrDenied) {
		t.Errorf("Version of a denied regional secret = %v, want ErrDenied", err)
	}
	eu.Deny(name, false)
	eu.Throttle(true)
	if _, err := b.Fetch(ctx, name); err == nil || backend.FailsClosed(err) {
		t.Errorf("Fetch from a throttling regional endpoint = %v, want a transient error", err)
	}
	eu.Throttle(false)
	if s, err := b.Fetch(ctx, name); err != nil || string(s.Data) != sentinel {
		t.Errorf("Fetch after the throttle = %v", err)
	}
}

// TestRegionalEndpointDown: a location whose endpoint does not answer is a
// transient error, retried, not a secret that is gone.
func TestRegionalEndpointDown(t *testing.T) {
	b := newRegionalBackend(t, newServer(t), nil) // no regional server: 127.0.0.1:1
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := b.Fetch(ctx, "projects/p/locations/asia-east1/secrets/s")
	if err == nil || backend.FailsClosed(err) || !strings.Contains(err.Error(), "projects/p/locations/asia-east1/secrets/s") {
		t.Errorf("Fetch from an endpoint that does not answer = %v, want a transient error naming the reference", err)
	}
}

func TestRegionalAfterClose(t *testing.T) {
	eu := newRegionalServer(t, "europe-west4")
	name := "projects/p/locations/europe-west4/secrets/s"
	eu.Put(name, []byte("x"))
	b, err := gcp.New(context.Background(), gcp.Options{ClientOptions: newServer(t).ClientOptions(),
		RegionalEndpoint: func(string) string { return eu.Addr() }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fetch(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := b.Fetch(context.Background(), "projects/p/locations/us-east4/secrets/s"); err == nil {
		t.Error("Fetch of a new location after Close succeeded")
	}
}
