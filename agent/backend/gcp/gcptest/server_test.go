package gcptest_test

import (
	"context"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tradepulse/secret-injector/agent/backend/gcp/gcptest"
)

const secretName = "projects/tp/secrets/tradepulse--mlflow"

func setup(t *testing.T) (*gcptest.Server, *secretmanager.Client) {
	t.Helper()
	srv, err := gcptest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := secretmanager.NewClient(context.Background(), srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

var automatic = &secretmanagerpb.Replication{
	Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}},
}

func crc(data []byte) *int64 {
	v := int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	return &v
}

func code(err error) codes.Code { return status.Code(err) }

func TestSecretLifecycleThroughSDK(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()

	if _, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: secretName}); code(err) != codes.NotFound {
		t.Fatalf("GetSecret before create: %v, want NotFound", err)
	}
	_, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: "projects/tp", SecretId: "tradepulse--mlflow", Secret: &secretmanagerpb.Secret{}})
	if code(err) != codes.InvalidArgument {
		t.Fatalf("CreateSecret without replication: %v, want InvalidArgument", err)
	}
	create := &secretmanagerpb.CreateSecretRequest{Parent: "projects/tp", SecretId: "tradepulse--mlflow", Secret: &secretmanagerpb.Secret{Replication: automatic}}
	sec, err := c.CreateSecret(ctx, create)
	if err != nil || sec.GetName() != secretName {
		t.Fatalf("CreateSecret = %v, %v", sec, err)
	}
	if _, err := c.CreateSecret(ctx, create); code(err) != codes.AlreadyExists {
		t.Fatalf("second CreateSecret: %v, want AlreadyExists", err)
	}
	if got, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: secretName}); err != nil || got.GetName() != secretName {
		t.Fatalf("GetSecret = %v, %v", got, err)
	}
	if _, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: secretName + "/versions/latest"}); code(err) != codes.NotFound {
		t.Fatalf("access latest of a secret without versions: %v, want NotFound", err)
	}

	data := []byte("tracking-token")
	bad := *crc(data) + 1
	if _, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: secretName, Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &bad}}); code(err) != codes.InvalidArgument {
		t.Fatalf("AddSecretVersion with a wrong checksum: %v, want InvalidArgument", err)
	}
	v, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: secretName, Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: crc(data)}})
	if err != nil || v.GetName() != secretName+"/versions/1" || v.GetState() != secretmanagerpb.SecretVersion_ENABLED || !v.GetClientSpecifiedPayloadChecksum() {
		t.Fatalf("AddSecretVersion = %v, %v", v, err)
	}
	resp, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: secretName + "/versions/latest"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{secretName + "/versions/1", "tracking-token", *crc(data)},
		[]any{resp.GetName(), string(resp.GetPayload().GetData()), resp.GetPayload().GetDataCrc32C()}); diff != "" {
		t.Errorf("AccessSecretVersion (-want +got):\n%s", diff)
	}

	if err := c.DeleteSecret(ctx, &secretmanagerpb.DeleteSecretRequest{Name: secretName}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: secretName + "/versions/1"}); code(err) != codes.NotFound {
		t.Fatalf("GetSecretVersion after delete: %v, want NotFound", err)
	}
	if err := c.DeleteSecret(ctx, &secretmanagerpb.DeleteSecretRequest{Name: secretName}); code(err) != codes.NotFound {
		t.Fatalf("second DeleteSecret: %v, want NotFound", err)
	}
	if _, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: secretName, Payload: &secretmanagerpb.SecretPayload{Data: data}}); code(err) != codes.NotFound {
		t.Fatalf("AddSecretVersion to a deleted secret: %v, want NotFound", err)
	}
}

// "latest" is the most recently created version whatever its state.
func TestVersionStates(t *testing.T) {
	srv, c := setup(t)
	ctx := context.Background()
	v1 := srv.Put(secretName, []byte("one"))
	v2 := srv.Put(secretName, []byte("two"))
	latest := secretName + "/versions/latest"

	access := func(name string) (string, codes.Code) {
		resp, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
		return string(resp.GetPayload().GetData()), code(err)
	}
	meta := func(name string) (string, secretmanagerpb.SecretVersion_State) {
		v, err := c.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: name})
		if err != nil {
			t.Fatalf("GetSecretVersion(%s): %v", name, err)
		}
		return v.GetName(), v.GetState()
	}

	if _, err := c.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: v2}); err != nil {
		t.Fatal(err)
	}
	if data, got := access(latest); got != codes.FailedPrecondition {
		t.Errorf("access latest while it is disabled = %q, %v; want FailedPrecondition", data, got)
	}
	if name, state := meta(latest); name != v2 || state != secretmanagerpb.SecretVersion_DISABLED {
		t.Errorf("GetSecretVersion(latest) = %s %s; want %s DISABLED", name, state, v2)
	}
	if data, got := access(v1); got != codes.OK || data != "one" {
		t.Errorf("access v1 = %q, %v; want one", data, got)
	}

	if _, err := c.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: v2}); err != nil {
		t.Fatal(err)
	}
	if data, got := access(latest); got != codes.OK || data != "two" {
		t.Errorf("access latest after enable = %q, %v; want two", data, got)
	}

	if _, err := c.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: v2}); err != nil {
		t.Fatal(err)
	}
	if _, got := access(v2); got != codes.FailedPrecondition {
		t.Errorf("access a destroyed version: %v, want FailedPrecondition", got)
	}
	if _, err := c.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: v2}); code(err) != codes.FailedPrecondition {
		t.Errorf("enable a destroyed version: %v, want FailedPrecondition", err)
	}
	v, err := c.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: v2})
	if err != nil || v.GetState() != secretmanagerpb.SecretVersion_DESTROYED || v.GetDestroyTime() == nil {
		t.Errorf("destroyed version metadata = %v, %v", v, err)
	}
	if _, got := access(secretName + "/versions/3"); got != codes.NotFound {
		t.Errorf("access a version never created: %v, want NotFound", got)
	}
}

func TestListSecretVersions(t *testing.T) {
	srv, c := setup(t)
	var want []string
	for _, d := range []string{"a", "b", "c", "d", "e"} {
		want = append([]string{srv.Put(secretName, []byte(d))}, want...)
	}
	ctx := context.Background()

	resp, err := c.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: secretName, PageSize: 2}).Next()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetName() != want[0] {
		t.Errorf("first listed = %s, want the newest %s", resp.GetName(), want[0])
	}

	var got []string
	it := c.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: secretName, PageSize: 2})
	for {
		v, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v.GetName())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listed versions, newest first (-want +got):\n%s", diff)
	}
	if n := srv.Calls()["ListSecretVersions"]; n != 1+3 {
		t.Errorf("ListSecretVersions calls = %d, want 1 + 3 pages of 2", n)
	}
}

func TestControls(t *testing.T) {
	srv, c := setup(t)
	ctx := context.Background()
	srv.Put(secretName, []byte("x"))
	latest := &secretmanagerpb.AccessSecretVersionRequest{Name: secretName + "/versions/latest"}
	getLatest := &secretmanagerpb.GetSecretVersionRequest{Name: secretName + "/versions/latest"}

	t.Run("deny", func(t *testing.T) {
		srv.Deny(secretName, true)
		if _, err := c.AccessSecretVersion(ctx, latest); code(err) != codes.PermissionDenied {
			t.Errorf("access while denied: %v, want PermissionDenied", err)
		}
		srv.Deny("projects/tp/secrets/never-created", true)
		if _, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: "projects/tp/secrets/never-created"}); code(err) != codes.PermissionDenied {
			t.Errorf("denied missing secret: %v, want PermissionDenied (existence is hidden)", err)
		}
		srv.Deny(secretName, false)
		if _, err := c.AccessSecretVersion(ctx, latest); err != nil {
			t.Errorf("access after deny ended: %v", err)
		}
	})
	t.Run("deny metadata", func(t *testing.T) {
		srv.DenyMetadata(secretName, true)
		defer srv.DenyMetadata(secretName, false)
		if _, err := c.GetSecretVersion(ctx, getLatest); code(err) != codes.PermissionDenied {
			t.Errorf("GetSecretVersion without metadata access: %v, want PermissionDenied", err)
		}
		if _, err := c.AccessSecretVersion(ctx, latest); err != nil {
			t.Errorf("AccessSecretVersion without metadata access: %v, want success", err)
		}
	})
	t.Run("throttle", func(t *testing.T) {
		srv.Throttle(true)
		srv.ResetCalls()
		_, err := c.GetSecretVersion(ctx, getLatest)
		srv.Throttle(false)
		if code(err) != codes.ResourceExhausted {
			t.Errorf("call while throttled: %v, want ResourceExhausted", err)
		}
		if diff := cmp.Diff(map[string]int{"GetSecretVersion": 1}, srv.Calls()); diff != "" {
			t.Errorf("throttled calls are counted (-want +got):\n%s", diff)
		}
	})
	t.Run("corrupt checksums", func(t *testing.T) {
		srv.CorruptChecksums(true)
		resp, err := c.AccessSecretVersion(ctx, latest)
		srv.CorruptChecksums(false)
		if err != nil || resp.GetPayload().GetDataCrc32C() == *crc([]byte("x")) {
			t.Errorf("corrupted access = %v, %v; want a wrong data_crc32c", resp, err)
		}
	})
	t.Run("latency", func(t *testing.T) {
		srv.SetLatency(time.Minute)
		defer srv.SetLatency(0)
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := c.AccessSecretVersion(ctx, latest); code(err) != codes.DeadlineExceeded {
			t.Errorf("slow call past its deadline: %v, want DeadlineExceeded", err)
		}
	})
	t.Run("routing header", func(t *testing.T) {
		srv.ResetCalls()
		if _, err := c.GetSecretVersion(ctx, getLatest); err != nil {
			t.Fatal(err)
		}
		want := []string{"name=projects%2Ftp%2Fsecrets%2Ftradepulse--mlflow%2Fversions%2Flatest"}
		if diff := cmp.Diff(want, srv.RequestParams("GetSecretVersion")); diff != "" {
			t.Errorf("recorded x-goog-request-params (-want +got):\n%s", diff)
		}
	})
	t.Run("delete and recreate numbers from 1", func(t *testing.T) {
		srv.Delete(secretName)
		if _, err := c.AccessSecretVersion(ctx, latest); code(err) != codes.NotFound {
			t.Errorf("access after Delete: %v, want NotFound", err)
		}
		if got := srv.Put(secretName, []byte("y")); got != secretName+"/versions/1" {
			t.Errorf("Put after Delete = %s, want version 1", got)
		}
	})
}

func TestMalformedNames(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	for _, name := range []string{"tradepulse/mlflow", "projects/tp/secrets/a.b/versions/1", "projects/tp/secrets/s/versions/", "projects//secrets/s/versions/1"} {
		if _, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name}); code(err) != codes.InvalidArgument {
			t.Errorf("access %q: %v, want InvalidArgument", name, err)
		}
	}
}

// TestRegionalEndpoint: a regional server serves its own location's
// secrets through the real client, and refuses global names and other
// locations' names, as a regional endpoint does; the global server
// refuses regional names.
func TestRegionalEndpoint(t *testing.T) {
	const (
		location = "europe-west4"
		parent   = "projects/tp/locations/" + location
		name     = parent + "/secrets/tradepulse--mlflow"
	)
	srv, err := gcptest.NewRegionalServer(location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if srv.Location() != location {
		t.Errorf("Location() = %q", srv.Location())
	}
	c, err := secretmanager.NewClient(context.Background(), srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()

	sec, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "tradepulse--mlflow", Secret: &secretmanagerpb.Secret{}})
	if err != nil || sec.GetName() != name || sec.GetReplication() != nil {
		t.Fatalf("CreateSecret of a regional secret without replication = %v, %v", sec, err)
	}
	data := []byte("tracking-token")
	v, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: name, Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: crc(data)}})
	if err != nil || v.GetName() != name+"/versions/1" {
		t.Fatalf("AddSecretVersion = %v, %v", v, err)
	}
	srv.ResetCalls()
	resp, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name + "/versions/latest"})
	if err != nil || resp.GetName() != name+"/versions/1" || string(resp.GetPayload().GetData()) != "tracking-token" {
		t.Fatalf("AccessSecretVersion = %v, %v", resp, err)
	}
	if diff := cmp.Diff([]string{"name=projects%2Ftp%2Flocations%2Feurope-west4%2Fsecrets%2Ftradepulse--mlflow%2Fversions%2Flatest"},
		srv.RequestParams("AccessSecretVersion")); diff != "" {
		t.Errorf("routing header (-want +got):\n%s", diff)
	}
	if got := srv.Put(name, []byte("two")); got != name+"/versions/2" {
		t.Errorf("Put = %s", got)
	}

	for _, n := range []string{
		"projects/tp/secrets/tradepulse--mlflow/versions/latest",                  // global
		"projects/tp/locations/us-central1/secrets/tradepulse--mlflow/versions/1", // another location
		"projects/tp/locations/europe-west4/secrets/a.b/versions/1",
		"projects/tp/locations/europe-west4/x/secrets/s/versions/1",
	} {
		if _, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: n}); code(err) != codes.InvalidArgument {
			t.Errorf("regional server, access %q: %v, want InvalidArgument", n, err)
		}
	}
	if _, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: "projects/tp", SecretId: "x", Secret: &secretmanagerpb.Secret{Replication: automatic}}); code(err) != codes.InvalidArgument {
		t.Errorf("regional server, CreateSecret with a global parent: %v, want InvalidArgument", err)
	}

	global, gc := setup(t)
	if _, err := gc.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name + "/versions/1"}); code(err) != codes.InvalidArgument {
		t.Errorf("global server, access a regional name: %v, want InvalidArgument", err)
	}
	if _, err := gc.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "x", Secret: &secretmanagerpb.Secret{Replication: automatic}}); code(err) != codes.InvalidArgument {
		t.Errorf("global server, CreateSecret with a regional parent: %v, want InvalidArgument", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("global Put of a regional name did not panic")
			}
		}()
		global.Put(name, []byte("x"))
	}()
	if _, err := gcptest.NewRegionalServer(""); err == nil {
		t.Error("NewRegionalServer(\"\") succeeded")
	}
}
