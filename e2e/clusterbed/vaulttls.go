package clusterbed

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/injector"
)

// VaultCAConfigMap is the ConfigMap, in every namespace NewNamespace
// makes, holding the CA bundle of the bed's Vault TLS front; the chart's
// defaults.vault.caBundle names it.
const VaultCAConfigMap = "vault-ca"

// vaultTLSFront serves Vault to pods over TLS on the gateway, with a
// certificate for the gateway's address signed by a CA of the bed's own
// (trusted by nothing else), and relays to the bed's Vault in plain HTTP on
// loopback. Pods thus reach Vault as production does, over TLS with a
// private CA that only the chart's caBundle makes them trust. It returns
// the front's address and the CA's PEM.
func (c *Cluster) vaultTLSFront(target string, stops *[]func()) (addr string, caPEM []byte, err error) {
	files, err := vaulttest.WriteTLS(c.dir, c.Gateway)
	if err != nil {
		return "", nil, fmt.Errorf("vault TLS front: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		return "", nil, fmt.Errorf("vault TLS front: %w", err)
	}
	if caPEM, err = os.ReadFile(files.CACert); err != nil {
		return "", nil, err
	}
	l, err := tls.Listen("tcp", net.JoinHostPort(c.Gateway, "0"), &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		return "", nil, fmt.Errorf("vault TLS front on the gateway: %w", err)
	}
	f := serveForwarder(l, target)
	*stops = append(*stops, f.Close)
	return f.Addr(), caPEM, nil
}

// putVaultCA creates the CA bundle's ConfigMap in ns, where the injected
// agents of Vault pods mount it.
func (c *Cluster) putVaultCA(ctx context.Context, ns string) error {
	if c.vaultCA == nil {
		return nil
	}
	_, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: VaultCAConfigMap},
		Data:       map[string]string{injector.DefaultVaultCAKey: string(c.vaultCA)},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the Vault CA ConfigMap: %w", err)
	}
	return nil
}
