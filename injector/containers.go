package injector

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/agent/config"
)

// Names the injector gives to what it adds. They are reserved: Inject
// replaces anything so named.
const (
	InitContainerName = "secret-injector-init"
	SidecarName       = "secret-injector-agent"
	VolumeName        = "secret-injector-secrets"
	TokenVolumeName   = "secret-injector-token"
	// EnvVolumeName is the pod volume (user-provided, e.g. a ConfigMap)
	// holding the .env file of backend env; Inject mounts it into the agent.
	EnvVolumeName = "secret-injector-env"

	// MetricsPortName names the agent's Prometheus port, for PodMonitors.
	MetricsPortName = "si-metrics"
	MetricsPort     = 9102
)

// AgentBinary is the agent's executable in the agent image (the image
// contract, issue #12): the agent containers run it as their command rather
// than relying on the image's ENTRYPOINT, so any agent-image must contain it.
// It is secret-injector-agent, the agent alone: it links neither the
// Kubernetes client nor the webhook, and so starts sooner and maps less
// memory than the image's entrypoint, secret-injector (issue #14).
const AgentBinary = "/usr/local/bin/secret-injector-agent"

// Paths inside the agent containers.
const (
	agentDir = "/var/run/secrets/tradepulse.io"
	// TokenDir holds the projected service-account token for Vault.
	TokenDir  = agentDir + "/serviceaccount"
	TokenPath = TokenDir + "/token"
	// EnvDir is where the secret-injector-env volume is mounted.
	EnvDir  = agentDir + "/env"
	EnvFile = EnvDir + "/.env"
)

// Projected token lifetime: the kubelet refreshes it at 80%, the agent
// reads it at each Vault login.
const tokenExpirationSeconds int64 = 3600

// agentContainers builds the agent containers a spec asks for: the init
// container first, then the sidecar.
//
// A native sidecar (an init container with restartPolicy Always) fills the
// volume itself before anything after it starts: its postStart hook,
// `secret-injector-agent wait`, returns only once every required secret is
// written, and the kubelet starts the next containers only after the hook.
// So mode init+sidecar needs no init container there, and the pod starts
// without one container's run and reaping and without a startup probe's
// one-second period (issue #14). A classic sidecar starts beside the app,
// so only an init container can hold the app back.
func agentContainers(spec *Spec, opts Options, id agentIdentity, configJSON string) (init, sidecar *corev1.Container) {
	if spec.Mode == ModeInit || (spec.Mode == ModeInitSidecar && !opts.NativeSidecars) {
		c := agentContainer(InitContainerName, "init", spec, opts, id, configJSON)
		init = &c
	}
	if spec.Mode == ModeInitSidecar || spec.Mode == ModeSidecar {
		c := agentContainer(SidecarName, "sidecar", spec, opts, id, configJSON)
		c.Ports = []corev1.ContainerPort{{Name: MetricsPortName, ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP}}
		// No readiness probe: a backend outage keeps the last good files
		// and must not take the app out of its Service.
		c.LivenessProbe = httpProbe("/healthz", 10, 3)
		if opts.NativeSidecars {
			c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
			c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{
				Exec: &corev1.ExecAction{Command: []string{AgentBinary, "wait"}},
			}}
			// The app starts after the sidecar's first pass, so that pass
			// tells it nothing (a signal would reach an app that has only
			// just started).
			c.Args = append(c.Args, "--native-sidecar")
		} else {
			// The startup probe passes after the first render, and holds
			// the liveness probe back until then; its budget is the pod's
			// init timeout.
			c.StartupProbe = httpProbe("/readyz", 1, int32(time.Duration(spec.Config.InitTimeout).Seconds()))
		}
		sidecar = &c
	}
	return init, sidecar
}

// agentContainer is what the init and sidecar containers share. Fields the
// API server would default are set explicitly, so that a reinvoked webhook
// sees nothing to change.
func agentContainer(name, mode string, spec *Spec, opts Options, id agentIdentity, configJSON string) corev1.Container {
	c := corev1.Container{
		Name:            name,
		Image:           spec.Image,
		ImagePullPolicy: opts.ImagePullPolicy,
		Command:         []string{AgentBinary},
		Args:            []string{"agent", "--mode", mode},
		Env: []corev1.EnvVar{
			{Name: config.BackendEnvVar, Value: spec.Config.Backend.Type},
			{Name: config.EnvVar, Value: configJSON},
		},
		Resources: *spec.Resources.DeepCopy(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: VolumeName, MountPath: spec.Config.MountPath},
		},
		SecurityContext:          agentSecurityContext(id),
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	c.Env = append(c.Env, opts.AgentEnv...)
	switch spec.Config.Backend.Type {
	case config.BackendVault:
		c.Env = append(c.Env, corev1.EnvVar{Name: "VAULT_ADDR", Value: spec.Config.Backend.Vault.Address})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: TokenVolumeName, MountPath: TokenDir, ReadOnly: true})
		if opts.Vault.CABundle != nil {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: VaultCAVolumeName, MountPath: VaultCADir, ReadOnly: true})
		}
	case config.BackendEnv:
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: EnvVolumeName, MountPath: EnvDir, ReadOnly: true})
	case config.BackendAWS:
		if assumesRole(spec.Config) {
			c.Env = append(c.Env, podEnv()...)
		}
	}
	return c
}

// agentSecurityContext meets the "restricted" Pod Security Standard; who
// the agent runs as is agentIdentityFor's decision.
func agentSecurityContext(id agentIdentity) *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To(id.uid),
		RunAsGroup:               ptr.To(id.gid),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func httpProbe(path string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path:   path,
			Port:   intstr.FromString(MetricsPortName),
			Scheme: corev1.URISchemeHTTP,
		}},
		TimeoutSeconds:   2,
		PeriodSeconds:    period,
		SuccessThreshold: 1,
		FailureThreshold: failures,
	}
}

// secretsVolume is the in-memory volume the agent writes and the app reads.
func secretsVolume(opts Options) corev1.Volume {
	limit := opts.VolumeSizeLimit.DeepCopy()
	return corev1.Volume{Name: VolumeName, VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &limit},
	}}
}

// tokenFileMode is the token's mode where the kubelet uses defaultMode.
// It cannot be 0400: the kubelet writes the token as root and, unless every
// container of the pod runs as one uid (then the file is that uid's, 0600)
// or the pod has an fsGroup (then root:fsGroup, 0640), with defaultMode;
// the agent runs as a non-root uid of its own and must read it. Read-only
// for everyone is safe because the volume is mounted into the agent alone,
// and the app cannot reach it through /proc/<agent pid>/root: the agent runs
// as another uid, or (signal reload, same uid) is non-dumpable.
const tokenFileMode int32 = 0o444

// tokenVolume is the service-account token the agent presents to Vault's
// Kubernetes auth: audience-bound and short-lived, unlike the default one.
func tokenVolume(opts Options) corev1.Volume {
	return corev1.Volume{Name: TokenVolumeName, VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience:          opts.Vault.Audience,
				ExpirationSeconds: ptr.To(tokenExpirationSeconds),
				Path:              "token",
			}}},
			DefaultMode: ptr.To(tokenFileMode),
		},
	}}
}

// appMount is the read-only mount of the secrets volume in app containers.
func appMount(mountPath string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: VolumeName, MountPath: mountPath, ReadOnly: true}
}
