package main

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// The image contract: what the secret-injector image holds and how it runs.
// The Dockerfile at the repository root says the same (dockerfile_test.go
// checks it), and the chart and the injector rely on it: the webhook runs
// `secret-injector webhook`, and the agent containers run
// `secret-injector-agent agent` as a non-root user with a read-only root
// file system.
const (
	// BinaryPath is where the binary is, mode 0755, and the entrypoint.
	BinaryPath = "/usr/local/bin/secret-injector"
	// AgentBinaryName is the agent-only binary (cmd/secret-injector-agent):
	// `make image` passes it with --also, which puts it beside the
	// entrypoint, at AgentBinaryPath, mode 0755. The injected agent
	// containers run it (injector.AgentBinary).
	AgentBinaryName = "secret-injector-agent"
	AgentBinaryPath = "/usr/local/bin/" + AgentBinaryName
	// CAPath is the CA bundle, for TLS to the cloud APIs and Vault.
	CAPath = "/etc/ssl/certs/ca-certificates.crt"
	// PasswdPath and GroupPath name the root, nobody and nonroot users,
	// copied from rootfs/etc (the Dockerfile copies the same files).
	PasswdPath = "/etc/passwd"
	GroupPath  = "/etc/group"
	// User is the nonroot user and group of rootfs/etc/passwd.
	User = "65532:65532"
	// SourceURL is the org.opencontainers.image.source label.
	SourceURL = "https://github.com/tradepulse/secret-injector"
	// HostCAFile is where Debian's ca-certificates package keeps the bundle
	// the image copies.
	HostCAFile = "/etc/ssl/certs/ca-certificates.crt"
	// WorkingDir of the image.
	WorkingDir = "/"
)

// Env is the environment of the image: PATH as BuildKit sets it for a
// scratch image, and SSL_CERT_FILE so that Go's TLS finds CAPath without
// probing.
var Env = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"SSL_CERT_FILE=" + CAPath,
}

// rootfs holds the files the packer and the Dockerfile both copy.
//
//go:embed rootfs/etc/passwd rootfs/etc/group
var rootfs embed.FS

// rootfsDir is rootfs's path from the repository root, for the Dockerfile.
const rootfsDir = "hack/image/rootfs"

// baseFiles are the files of the base layer: the users and the CA bundle.
func baseFiles(caFile string) ([]file, error) {
	ca, err := os.ReadFile(caFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("CA bundle %s not found: install it with `apt-get install ca-certificates` (Debian/Ubuntu), or pass --ca FILE", caFile)
	}
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	if !strings.Contains(string(ca), "-----BEGIN CERTIFICATE-----") {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", caFile)
	}
	files := []file{{path: CAPath, mode: 0o644, data: ca}}
	for _, p := range []string{PasswdPath, GroupPath} {
		b, err := rootfs.ReadFile("rootfs" + p)
		if err != nil {
			return nil, err
		}
		files = append(files, file{path: p, mode: 0o644, data: b})
	}
	return files, nil
}
