package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/webhook"
)

// injectorOptions are cluster defaults a real chart would set.
func injectorOptions() injector.Options {
	return injector.Options{
		DefaultBackend:  "vault",
		EnabledBackends: []string{"vault", "gcp", "aws", "env"},
		AgentImage:      "ghcr.io/tradepulse/secret-injector:v0.1.0",
		NativeSidecars:  true,
		Vault:           injector.VaultDefaults{Address: "https://vault.vault.svc:8200", Role: "default"},
		GCPProject:      "tradepulse-bench",
		AWSRegion:       "eu-west-1",
	}
}

// benchPod is a realistic opted-in pod: an app and a log shipper, the
// runbook's secrets (a database lease, TLS JSON split into files, exchange
// keys, tracking credentials as an env file), resources, probes and env.
func benchPod() *corev1.Pod {
	p := injector.Prefix
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	uid := int64(10001)
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "ledger-7d9f8b6c5-",
			Namespace:    "trading",
			Labels:       map[string]string{"app.kubernetes.io/name": "ledger", "app.kubernetes.io/part-of": "tradepulse", "pod-template-hash": "7d9f8b6c5"},
			Annotations: map[string]string{
				injector.AnnotationInject:                        "true",
				injector.AnnotationReload:                        "signal:SIGHUP:ledger",
				injector.AnnotationSecretPrefix + "db":           "database/creds/ledger-rw",
				injector.AnnotationSecretPrefix + "postgres-tls": "secret/tradepulse/postgres-tls",
				injector.AnnotationFormatPrefix + "postgres-tls": "json",
				injector.AnnotationSecretPrefix + "api-key":      "secret/tradepulse/exchanges/binance#api-key",
				injector.AnnotationSecretPrefix + "api-secret":   "secret/tradepulse/exchanges/binance#api-secret",
				injector.AnnotationSecretPrefix + "mlflow":       "secret/tradepulse/mlflow",
				injector.AnnotationFormatPrefix + "mlflow":       "env",
				p + "containers":                                 "ledger",
				"kubectl.kubernetes.io/default-container":        "ledger",
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "ledger-7d9f8b6c5", UID: "5f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f"}},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "ledger",
			SecurityContext:    &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid},
			Containers: []corev1.Container{
				{
					Name: "ledger", Image: "ghcr.io/tradepulse/ledger:2.0.0", Args: []string{"--config", "/etc/ledger/config.yaml"},
					Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090}},
					Env:            []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
					Resources:      res,
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}, PeriodSeconds: 5},
					VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/ledger"}},
				},
				{Name: "log-shipper", Image: "fluent/fluent-bit:3.2", Resources: res},
			},
			Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ledger"}}}}},
		},
	}
}

// reviewBody is the AdmissionReview the API server would POST for pod.
func reviewBody(pod *corev1.Pod) ([]byte, error) {
	raw, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("0b6a1f7e-bench"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: pod.Namespace,
			Operation: admissionv1.Create,
			UserInfo:  authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller", Groups: []string{"system:serviceaccounts", "system:authenticated"}},
			Object:    runtime.RawExtension{Raw: raw},
		},
	})
}

// newHandler builds one of the two admission handlers compared, by name
// ("ours" or "noop").
func newHandler(name string) http.Handler {
	if name == "noop" {
		return &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
			return admission.Allowed("")
		})}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return webhook.NewHandler(webhook.InjectorMutator(injectorOptions()), webhook.NewMetrics(prometheus.NewRegistry()), log).Webhook()
}

// writeCert writes a self-signed serving certificate for 127.0.0.1 into dir
// as tls.crt/tls.key (controller-runtime's default names) and returns its
// pool for the client.
func writeCert(dir string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "webhookbench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}

// serve runs a controller-runtime webhook.Server with handler on port
// with the TLS settings webhook.Run uses (HTTP/1.1 only unless h2).
func serve(ctx context.Context, handler, certDir string, port int, h2 bool) error {
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{
		Host: "127.0.0.1", Port: port, CertDir: certDir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.MinVersion = tls.VersionTLS12
			if h2 {
				c.NextProtos = []string{"h2", "http/1.1"}
			} else {
				c.NextProtos = []string{"http/1.1"}
			}
		}},
	})
	srv.Register(webhook.Path, newHandler(handler))
	return srv.Start(ctx)
}
