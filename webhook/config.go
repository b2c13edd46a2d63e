package webhook

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/webhook/certs"
)

// TLS modes.
const (
	// TLSModeFile serves the pair mounted in CertDir (cert-manager or a
	// provided Secret) and reloads it when it changes.
	TLSModeFile = "file"
	// TLSModeSelfManaged creates and rotates its own CA and serving
	// certificate, stores them in a Secret and patches the caBundle.
	TLSModeSelfManaged = "self-managed"
)

// Defaults of the zero Config fields.
const (
	DefaultPort              = 9443
	DefaultProbeAddr         = ":8081"
	DefaultMetricsAddr       = ":8080"
	DefaultClusterDomain     = "cluster.local"
	DefaultCertCheckInterval = time.Minute
	DefaultCertWatchInterval = 10 * time.Second
)

// Config is everything Run needs. The zero value of an optional field takes
// the documented default.
type Config struct {
	// Host and Port are where the webhook serves HTTPS; "" is every
	// address, 0 is DefaultPort.
	Host string
	Port int
	// CertDir holds tls.crt and tls.key: mounted in file mode, written in
	// self-managed mode (required in both).
	CertDir string
	// TLSMode is TLSModeFile or TLSModeSelfManaged.
	TLSMode string
	// CertWatchInterval is how often CertDir is re-read besides file
	// events; 0 means DefaultCertWatchInterval.
	CertWatchInterval time.Duration

	// Namespace and ServiceName locate the webhook's Service: the serving
	// certificate's names, and the Secret's namespace (self-managed).
	Namespace   string
	ServiceName string
	// ClusterDomain completes the Service's DNS name; "" is cluster.local.
	ClusterDomain string
	// ExtraHosts are more names or IP addresses for the serving
	// certificate, for a configuration that uses a URL.
	ExtraHosts []string
	// WebhookConfigName is the MutatingWebhookConfiguration whose caBundle
	// self-managed mode keeps current.
	WebhookConfigName string
	// SecretName stores the self-managed bundle; "" is ServiceName-tls.
	SecretName string
	// CertPolicy sets the self-managed lifetimes; zero durations take the
	// certs package defaults, Hosts come from the Service.
	CertPolicy certs.Policy
	// CertCheckInterval is how often self-managed mode re-reads the Secret
	// (other replicas may have renewed); 0 is DefaultCertCheckInterval.
	CertCheckInterval time.Duration

	// ProbeAddr serves /healthz and /readyz over plain HTTP; "" is
	// DefaultProbeAddr.
	ProbeAddr string
	// MetricsAddr serves /metrics; "" is DefaultMetricsAddr.
	MetricsAddr string
	// Registry holds the webhook's metrics; nil makes one with the Go and
	// process collectors.
	Registry *prometheus.Registry

	// Injector holds the cluster's injection defaults. NativeSidecars in it
	// is overwritten by the NativeSidecars mode below.
	Injector injector.Options
	// NativeSidecars is NativeSidecarsAuto (from the API server's version),
	// NativeSidecarsTrue or NativeSidecarsFalse; "" is auto.
	NativeSidecars string
	// Mutator replaces the injector (tests); nil means injector.Inject with
	// Injector.
	Mutator Mutator

	// Limits bound what clients of the admission port can cost; zero
	// fields take the defaults. Limits.AdmissionTimeout must be the webhook
	// configuration's timeoutSeconds.
	Limits Limits

	// RestConfig reaches the API server (version discovery, self-managed
	// TLS); nil loads the in-cluster config or kubeconfig.
	RestConfig *rest.Config
	// Logger receives the webhook's logs; nil is slog.Default().
	Logger *slog.Logger
}

// withDefaults returns cfg with the zero fields filled.
func (cfg Config) withDefaults() Config {
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.CertWatchInterval == 0 {
		cfg.CertWatchInterval = DefaultCertWatchInterval
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = DefaultClusterDomain
	}
	if cfg.SecretName == "" && cfg.ServiceName != "" {
		cfg.SecretName = cfg.ServiceName + "-tls"
	}
	if cfg.CertCheckInterval == 0 {
		cfg.CertCheckInterval = DefaultCertCheckInterval
	}
	if cfg.ProbeAddr == "" {
		cfg.ProbeAddr = DefaultProbeAddr
	}
	if cfg.MetricsAddr == "" {
		cfg.MetricsAddr = DefaultMetricsAddr
	}
	if cfg.NativeSidecars == "" {
		cfg.NativeSidecars = NativeSidecarsAuto
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Limits = cfg.Limits.withDefaults()
	cfg.CertPolicy = cfg.CertPolicy.WithDefaults()
	if len(cfg.CertPolicy.Hosts) == 0 {
		cfg.CertPolicy.Hosts = cfg.hosts()
	}
	return cfg
}

// hosts are the serving certificate's names: the forms under which the API
// server or a person may address the Service, then ExtraHosts.
func (cfg Config) hosts() []string {
	var h []string
	if cfg.ServiceName != "" && cfg.Namespace != "" {
		svc := cfg.ServiceName + "." + cfg.Namespace + ".svc"
		h = append(h, svc, svc+"."+cfg.ClusterDomain, cfg.ServiceName+"."+cfg.Namespace, cfg.ServiceName)
	}
	return append(h, cfg.ExtraHosts...)
}

// validate reports every problem of a defaulted Config.
func (cfg Config) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.Port < 1 || cfg.Port > 65535 {
		add("port %d is out of range", cfg.Port)
	}
	if cfg.CertDir == "" {
		add("cert dir is required")
	}
	switch cfg.TLSMode {
	case TLSModeFile:
	case TLSModeSelfManaged:
		if cfg.Namespace == "" {
			add("self-managed tls needs the namespace")
		}
		if cfg.SecretName == "" {
			add("self-managed tls needs the service name or a secret name")
		}
		if cfg.WebhookConfigName == "" {
			add("self-managed tls needs the webhook configuration name")
		}
		if err := cfg.CertPolicy.Validate(); err != nil {
			errs = append(errs, err)
		}
		if cfg.CertPolicy.PropagationDelay < 2*cfg.CertCheckInterval {
			add("self-managed tls: the propagation delay (%s) must be at least twice the check interval (%s), so every replica publishes a new CA before it signs",
				cfg.CertPolicy.PropagationDelay, cfg.CertCheckInterval)
		}
	default:
		add("tls mode %q: want %s or %s", cfg.TLSMode, TLSModeFile, TLSModeSelfManaged)
	}
	if err := cfg.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	switch cfg.NativeSidecars {
	case NativeSidecarsAuto, NativeSidecarsTrue, NativeSidecarsFalse:
	default:
		add("native sidecars %q: want auto, true or false", cfg.NativeSidecars)
	}
	if cfg.Mutator == nil {
		if err := cfg.Injector.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("webhook config: %w", err)
	}
	return nil
}

// needsAPI reports whether Run must reach the API server before serving.
func (cfg Config) needsAPI() bool {
	return cfg.TLSMode == TLSModeSelfManaged || (cfg.Mutator == nil && cfg.NativeSidecars == NativeSidecarsAuto)
}
