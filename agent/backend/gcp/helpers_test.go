package gcp_test

import (
	"context"
	"hash/crc32"
	"log/slog"
	"strings"
	"testing"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tradepulse/secret-injector/agent/backend/gcp"
	"github.com/tradepulse/secret-injector/agent/backend/gcp/gcptest"
)

// project is the Options.Project the tests resolve short names against.
const project = "tradepulse-test"

func newServer(t *testing.T) *gcptest.Server {
	t.Helper()
	srv, err := gcptest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func newBackend(t *testing.T, srv *gcptest.Server, log *slog.Logger) *gcp.Backend {
	t.Helper()
	return newRegionalBackend(t, srv, log)
}

// newRegionalBackend is a backend on the global server srv and the
// regional servers regions, by their locations. A regional secret of any
// other location is sent to a closed port: no test reaches Google.
func newRegionalBackend(t *testing.T, srv *gcptest.Server, log *slog.Logger, regions ...*gcptest.Server) *gcp.Backend {
	t.Helper()
	addrs := map[string]string{}
	for _, r := range regions {
		addrs[r.Location()] = r.Addr()
	}
	b, err := gcp.New(context.Background(), gcp.Options{
		Project:       project,
		ClientOptions: srv.ClientOptions(),
		RegionalEndpoint: func(location string) string {
			if a, ok := addrs[location]; ok {
				return a
			}
			return "127.0.0.1:1"
		},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newRegionalServer(t *testing.T, location string) *gcptest.Server {
	t.Helper()
	srv, err := gcptest.NewRegionalServer(location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// secretName is the full name of the secret a runbook path maps to.
func secretName(t *testing.T, path string) string {
	t.Helper()
	id, err := gcp.SecretID(path)
	if err != nil {
		t.Fatal(err)
	}
	return "projects/" + project + "/secrets/" + id
}

// admin is an operator's Secret Manager client: it changes the server only
// through the real SDK's admin RPCs.
type admin struct {
	c *secretmanager.Client
}

func newAdmin(t *testing.T, srv *gcptest.Server) admin {
	t.Helper()
	c, err := secretmanager.NewClient(context.Background(), srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return admin{c}
}

// put creates the secret if needed and adds a version, as
// `gcloud secrets versions add` does; it returns the version's name.
func (a admin) put(t *testing.T, name string, data []byte) string {
	t.Helper()
	ctx := context.Background()
	parent, id := splitName(t, name)
	_, err := a.c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{
		Parent:   parent,
		SecretId: id,
		Secret: &secretmanagerpb.Secret{Replication: &secretmanagerpb.Replication{
			Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}},
		}},
	})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		t.Fatalf("CreateSecret %s: %v", name, err)
	}
	crc := int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	v, err := a.c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{
		Parent:  name,
		Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &crc},
	})
	if err != nil {
		t.Fatalf("AddSecretVersion %s: %v", name, err)
	}
	return v.GetName()
}

func (a admin) delete(t *testing.T, name string) {
	t.Helper()
	if err := a.c.DeleteSecret(context.Background(), &secretmanagerpb.DeleteSecretRequest{Name: name}); err != nil {
		t.Fatalf("DeleteSecret %s: %v", name, err)
	}
}

func (a admin) disable(t *testing.T, version string) {
	t.Helper()
	if _, err := a.c.DisableSecretVersion(context.Background(), &secretmanagerpb.DisableSecretVersionRequest{Name: version}); err != nil {
		t.Fatalf("DisableSecretVersion %s: %v", version, err)
	}
}

func (a admin) enable(t *testing.T, version string) {
	t.Helper()
	if _, err := a.c.EnableSecretVersion(context.Background(), &secretmanagerpb.EnableSecretVersionRequest{Name: version}); err != nil {
		t.Fatalf("EnableSecretVersion %s: %v", version, err)
	}
}

func (a admin) destroy(t *testing.T, version string) {
	t.Helper()
	if _, err := a.c.DestroySecretVersion(context.Background(), &secretmanagerpb.DestroySecretVersionRequest{Name: version}); err != nil {
		t.Fatalf("DestroySecretVersion %s: %v", version, err)
	}
}

// splitName splits "projects/P/secrets/S" into "projects/P" and "S".
func splitName(t *testing.T, name string) (parent, id string) {
	t.Helper()
	parent, id, ok := strings.Cut(name, "/secrets/")
	if !ok {
		t.Fatalf("%q is not a secret name", name)
	}
	return parent, id
}
