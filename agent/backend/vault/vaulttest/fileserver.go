package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/internal/testkit"
)

// FileServer is a Vault server as production runs it: file storage,
// initialised and unsealed with a key, so that it keeps its mounts, tokens
// and leases across a restart and can be sealed. The fault suite needs
// what a dev server cannot do.
type FileServer struct {
	// Addr is the server's loopback address; RootToken the root token
	// that initialisation returned.
	Addr      string
	RootToken string
	// CACert is the CA bundle that verifies the listener (TLS only).
	CACert string

	bin, dir  string
	unsealKey string

	mu   sync.Mutex
	proc *testkit.Process
	log  testkit.Buffer // the server's output across restarts
}

// StartFileServer starts a Vault server with file storage under dir on a
// free loopback port, initialises it with one unseal key, and unseals it.
func StartFileServer(ctx context.Context, bin, dir string) (*FileServer, error) {
	return startFileServer(ctx, bin, dir, nil)
}

// StartFileServerTLS is StartFileServer with a TLS listener: its
// certificate, for 127.0.0.1 and localhost, is signed by a CA of its own
// (WriteTLS under dir), which FileServer.CACert holds.
func StartFileServerTLS(ctx context.Context, bin, dir string) (*FileServer, error) {
	files, err := WriteTLS(dir, "127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	return startFileServer(ctx, bin, dir, &files)
}

func startFileServer(ctx context.Context, bin, dir string, tlsFiles *TLSFiles) (*FileServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	scheme, listenerTLS := "http", "tls_disable = true"
	s := &FileServer{bin: bin, dir: dir}
	if tlsFiles != nil {
		scheme = "https"
		listenerTLS = fmt.Sprintf("tls_cert_file = %q\n  tls_key_file  = %q", tlsFiles.Cert, tlsFiles.Key)
		s.CACert = tlsFiles.CACert
	}
	s.Addr = scheme + "://127.0.0.1:" + strconv.Itoa(port)
	config := fmt.Sprintf(`storage "file" { path = %q }
listener "tcp" {
  address     = "127.0.0.1:%d"
  %s
}
api_addr      = %q
disable_mlock = true
ui            = false
`, filepath.Join(dir, "data"), port, listenerTLS, s.Addr)
	if err := os.WriteFile(filepath.Join(dir, "vault.hcl"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Start starts the server process (again, after Stop), initialises it the
// first time, and unseals it.
func (s *FileServer) Start(ctx context.Context) error {
	s.mu.Lock()
	cmd := exec.Command(s.bin, "server", "-config", filepath.Join(s.dir, "vault.hcl"))
	p, err := testkit.Start("vault server", cmd, &s.log)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.proc = p
	s.mu.Unlock()

	c := s.client("")
	var h *api.HealthResponse
	err = waitFor(ctx, 30*time.Second, func() bool {
		var err error
		h, err = c.Sys().HealthWithContext(ctx)
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("vault server on %s never answered: %w\n%s", s.Addr, err, s.Output())
	}
	if !h.Initialized {
		init, err := c.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
		if err != nil {
			return fmt.Errorf("vault operator init: %w", err)
		}
		s.unsealKey, s.RootToken = init.Keys[0], init.RootToken
	}
	return s.Unseal(ctx)
}

// Unseal unseals the server and waits until it is active.
func (s *FileServer) Unseal(ctx context.Context) error {
	c := s.client("")
	if _, err := c.Sys().UnsealWithContext(ctx, s.unsealKey); err != nil {
		return fmt.Errorf("vault operator unseal: %w", err)
	}
	err := waitFor(ctx, 30*time.Second, func() bool {
		h, err := c.Sys().HealthWithContext(ctx)
		return err == nil && h.Initialized && !h.Sealed && !h.Standby
	})
	if err != nil {
		return fmt.Errorf("vault on %s not active after unseal: %w", s.Addr, err)
	}
	return nil
}

// Seal seals the server, as an operator's `vault operator seal` does.
func (s *FileServer) Seal(ctx context.Context) error {
	if err := s.client(s.RootToken).Sys().SealWithContext(ctx); err != nil {
		return fmt.Errorf("vault operator seal: %w", err)
	}
	return nil
}

// Stop stops the server with SIGTERM, as a rolling restart does, and
// kills it if it is still running after 10 s. It is a no-op when the
// server is not running.
func (s *FileServer) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.Stop(10 * time.Second)
	}
}

// Output is what the server printed so far.
func (s *FileServer) Output() string { return s.log.String() }

// Client is an API client of the server with token, trusting its CA.
func (s *FileServer) Client(token string) *api.Client {
	return s.client(token)
}

func (s *FileServer) client(token string) *api.Client {
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	cfg.Timeout = 10 * time.Second
	if s.CACert != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: s.CACert}); err != nil {
			panic(err) // our own CA file, written at start
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		// Only an unparsable address fails, and Addr is ours.
		panic(err)
	}
	c.SetToken(token)
	return c
}

// waitFor polls ok until it holds, at most timeout.
func waitFor(ctx context.Context, timeout time.Duration, ok func() bool) error {
	return testkit.Poll(ctx, timeout, func() (bool, error) { return ok(), nil })
}

// freePort finds a loopback port whose successor is free too: Vault
// listens on port+1 for cluster traffic.
func freePort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
		_ = l.Close()
		if err == nil {
			_ = l2.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port pair on 127.0.0.1")
}
