package gcp_test

import (
	"testing"

	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
)

// TestConformanceThroughSDK changes the server only through the real SDK
// client's admin RPCs (CreateSecret, AddSecretVersion, DeleteSecret), as an
// operator would; denial and throttling have no RPC and use the controls.
func TestConformanceThroughSDK(t *testing.T) {
	srv := newServer(t)
	adm := newAdmin(t, srv)
	backendtest.Run(t, backendtest.Harness{
		Backend: newBackend(t, srv, nil),
		Put: func(t *testing.T, ref string, data []byte) {
			adm.put(t, secretName(t, ref), data)
		},
		Delete: func(t *testing.T, ref string) {
			adm.delete(t, secretName(t, ref))
		},
		Deny: func(t *testing.T, ref string, denied bool) {
			srv.Deny(secretName(t, ref), denied)
		},
		Throttle: func(t *testing.T, on bool) { srv.Throttle(on) },
		Binary:   true,
	})
}

// TestConformanceDirect drives the same cases through the server's direct
// controls, the way e2e tests and benchmarks use it.
func TestConformanceDirect(t *testing.T) {
	srv := newServer(t)
	backendtest.Run(t, backendtest.Harness{
		Backend: newBackend(t, srv, nil),
		Put: func(t *testing.T, ref string, data []byte) {
			srv.Put(secretName(t, ref), data)
		},
		Delete: func(t *testing.T, ref string) {
			srv.Delete(secretName(t, ref))
		},
		Deny: func(t *testing.T, ref string, denied bool) {
			srv.Deny(secretName(t, ref), denied)
		},
		Throttle: func(t *testing.T, on bool) { srv.Throttle(on) },
		Binary:   true,
	})
}
