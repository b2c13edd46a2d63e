package injector

// Prefix starts every annotation key the injector reads or writes. Any other
// key under it is denied, so that a typo surfaces at `kubectl apply` instead
// of as a pod that silently lacks a secret.
const Prefix = "secrets.tradepulse.io/"

// Pod-level keys. ANNOTATIONS.md is the reference table for users; keep it in
// step with this block.
const (
	// AnnotationInject opts the pod in. "true" injects; "false", or no key at
	// all, leaves the pod untouched; any other value is denied.
	//
	//	secrets.tradepulse.io/inject: "true"
	AnnotationInject = Prefix + "inject"

	// AnnotationStatus is written by the injector once the pod is injected,
	// so that a second pass (webhook reinvocation) is recognised and
	// rebuilds the same pod. A user may only copy our own value.
	//
	//	secrets.tradepulse.io/status: injected
	AnnotationStatus = Prefix + "status"

	// AnnotationBackend picks the secret backend: gcp, vault, aws or env.
	// Default: the cluster's (Options.DefaultBackend). It must be enabled in
	// the cluster (Options.EnabledBackends).
	//
	//	secrets.tradepulse.io/backend: vault
	AnnotationBackend = Prefix + "backend"

	// AnnotationMode says which agent containers are added: init+sidecar
	// (default: fill before the app starts, then keep fresh), init (fill
	// once) or sidecar (keep fresh only).
	//
	//	secrets.tradepulse.io/mode: init
	AnnotationMode = Prefix + "mode"

	// AnnotationRefreshInterval is how often the sidecar polls a versioned
	// backend: a Go duration of at least the cluster's minimum
	// (Options.MinRefreshInterval, 30s). Default: the cluster's.
	//
	//	secrets.tradepulse.io/refresh-interval: 2m
	AnnotationRefreshInterval = Prefix + "refresh-interval"

	// AnnotationVaultRole is the Vault role of the Kubernetes or JWT auth
	// method (backend vault only). Default: the cluster's; required if the
	// cluster has none.
	//
	//	secrets.tradepulse.io/vault-role: trading-engine
	AnnotationVaultRole = Prefix + "vault-role"

	// AnnotationVaultAuthPath is the auth method's mount path, starting
	// with "auth/" (backend vault only). Default: the cluster's mount of the
	// pod's auth method (Options.Vault.AuthPath or JWTAuthPath).
	//
	//	secrets.tradepulse.io/vault-auth-path: auth/k8s-prod
	AnnotationVaultAuthPath = Prefix + "vault-auth-path"

	// AnnotationVaultAddress picks a Vault server (backend vault only). It
	// must be the cluster default or one of Options.Vault.AllowedAddresses:
	// a pod annotation must not make the agent send its service-account
	// token anywhere else.
	//
	//	secrets.tradepulse.io/vault-address: https://vault-dr.vault.svc:8200
	AnnotationVaultAddress = Prefix + "vault-address"

	// AnnotationVaultAuthMethod picks how the agent logs in to Vault with
	// the pod's projected service-account token (backend vault only):
	// kubernetes (Vault asks the API server with a TokenReview) or jwt
	// (Vault checks the token's signature against the cluster's issuer
	// keys; the role's bound_audiences must hold the chart's audience).
	// Default: the cluster's (Options.Vault.AuthMethod).
	//
	//	secrets.tradepulse.io/vault-auth-method: jwt
	AnnotationVaultAuthMethod = Prefix + "vault-auth-method"

	// AnnotationVaultNamespace is the Vault Enterprise / HCP namespace the
	// agent logs in and reads in (backend vault only). It must be the
	// cluster default or one of Options.Vault.AllowedNamespaces. Default:
	// the cluster's (none: the root namespace).
	//
	//	secrets.tradepulse.io/vault-namespace: trading/prod
	AnnotationVaultNamespace = Prefix + "vault-namespace"

	// AnnotationVaultRevokeOnShutdown, "true" or "false", says whether the
	// sidecar revokes its Vault leases (dynamic credentials) when the pod
	// stops, so that they do not outlive it (backend vault only). Default:
	// the cluster's (Options.Vault.RevokeOnShutdown).
	//
	//	secrets.tradepulse.io/vault-revoke-on-shutdown: "true"
	AnnotationVaultRevokeOnShutdown = Prefix + "vault-revoke-on-shutdown"

	// AnnotationInitTimeout is how long the init container retries before
	// it fails closed (and the native sidecar's startup probe waits): a Go
	// duration from 10s to the cluster's maximum (Options.MaxInitTimeout,
	// 10m). Default: the cluster's (Options.InitTimeout, 2m).
	//
	//	secrets.tradepulse.io/init-timeout: 5m
	AnnotationInitTimeout = Prefix + "init-timeout"

	// AnnotationGCPProject resolves short secret names (backend gcp only).
	// Default: the cluster's.
	//
	//	secrets.tradepulse.io/gcp-project: tradepulse-research
	AnnotationGCPProject = Prefix + "gcp-project"

	// AnnotationAWSRegion is the Secrets Manager region (backend aws only).
	// Default: the cluster's.
	//
	//	secrets.tradepulse.io/aws-region: eu-central-1
	AnnotationAWSRegion = Prefix + "aws-region"

	// AnnotationAWSRoleARN makes the agent assume this IAM role (backend
	// aws only), with the pod's own identity (IRSA, Pod Identity) as the
	// source credentials: cross-account access. The role must match the
	// cluster's allow-list (Options.AWSAllowedRoleARNs, chart value
	// defaults.aws.allowedRoleARNs), else the pod is denied. The STS session is
	// named after the pod.
	//
	//	secrets.tradepulse.io/aws-role-arn: arn:aws:iam::111122223333:role/tradepulse-secrets-reader
	AnnotationAWSRoleARN = Prefix + "aws-role-arn"

	// AnnotationMountPath is where the secrets volume is mounted, in the app
	// and agent containers alike. Absolute, clean, not a system directory.
	// Default: /secrets.
	//
	//	secrets.tradepulse.io/mount-path: /var/run/tradepulse/secrets
	AnnotationMountPath = Prefix + "mount-path"

	// AnnotationContainers names, comma-separated, the app containers (and
	// init containers) that get the volume, read-only. Default: every app
	// container, no init container.
	//
	//	secrets.tradepulse.io/containers: engine,migrate
	AnnotationContainers = Prefix + "containers"

	// AnnotationReload says how the app learns that its files changed:
	// none (default), restart (the operator CLI restarts the workload; the
	// agent does nothing), signal:<SIGNAL>:<process-name> (shares the pod's
	// process namespace) or an http(s) URL on localhost.
	//
	//	secrets.tradepulse.io/reload: signal:SIGHUP:engine
	//	secrets.tradepulse.io/reload: http://127.0.0.1:8080/-/reload
	AnnotationReload = Prefix + "reload"

	// AnnotationOwner is the app's uid:gid. The files get its gid (and
	// mode 0440) and belong to the agent's own uid; with signal reload the
	// agent runs as this uid and the files belong to it. Default: the first
	// selected container's runAsUser/runAsGroup, else the pod's. uid 0 is
	// denied: the agent never runs as root.
	//
	//	secrets.tradepulse.io/owner: "10001:10001"
	AnnotationOwner = Prefix + "owner"

	// AnnotationAgentImage overrides the agent image. It must be the
	// cluster default or match Options.AllowedImages.
	//
	//	secrets.tradepulse.io/agent-image: ghcr.io/tradepulse/secret-injector:v0.2.0
	AnnotationAgentImage = Prefix + "agent-image"

	// AnnotationAgentCPURequest overrides the agent containers' CPU request.
	//
	//	secrets.tradepulse.io/agent-cpu-request: 50m
	AnnotationAgentCPURequest = Prefix + "agent-cpu-request"

	// AnnotationAgentMemoryRequest overrides the agent containers' memory
	// request.
	//
	//	secrets.tradepulse.io/agent-memory-request: 32Mi
	AnnotationAgentMemoryRequest = Prefix + "agent-memory-request"

	// AnnotationAgentMemoryLimit overrides the agent containers' memory
	// limit.
	//
	//	secrets.tradepulse.io/agent-memory-limit: 128Mi
	AnnotationAgentMemoryLimit = Prefix + "agent-memory-limit"
)

// Per-secret keys: each is followed by the secret's name, e.g.
// "secrets.tradepulse.io/format-postgres-tls". Every key but secret-<name>
// needs a secret-<name> with the same name.
const (
	// AnnotationSecretPrefix declares a secret: the value is its reference
	// in the backend, the name is its file (json: directory) under the mount
	// path. Names match [a-z0-9][a-z0-9._-]*, no "..", at most 63
	// characters.
	//
	//	secrets.tradepulse.io/secret-postgres-tls: tradepulse/postgres-tls
	AnnotationSecretPrefix = Prefix + "secret-"

	// AnnotationFormatPrefix picks how the secret is rendered: raw
	// (default), json (one file per field), env (KEY=value) or template.
	//
	//	secrets.tradepulse.io/format-postgres-tls: json
	AnnotationFormatPrefix = Prefix + "format-"

	// AnnotationTemplatePrefix is the Go text/template for format template.
	// Its data is .Data (the secret's JSON fields), .Raw (its text) and
	// .Version. Functions: b64enc b64dec trim upper lower json.
	//
	//	secrets.tradepulse.io/template-mlflow: |
	//	  MLFLOW_TRACKING_USERNAME={{ .Data.username }}
	AnnotationTemplatePrefix = Prefix + "template-"

	// AnnotationFieldsPrefix picks and renames JSON fields, comma-separated
	// field=target pairs. json: targets are relative file paths under the
	// secret's directory (only the listed fields are written); env: targets
	// are variable names.
	//
	//	secrets.tradepulse.io/fields-postgres-tls: ca=ca.crt,cert=tls.crt,key=tls.key
	AnnotationFieldsPrefix = Prefix + "fields-"

	// AnnotationFileModePrefix is the files' octal mode, readable by their
	// owner and not world-writable; group-readable where the agent runs
	// under its own uid. Default: 0440 there, else 0400.
	//
	//	secrets.tradepulse.io/file-mode-postgres-tls: "0440"
	AnnotationFileModePrefix = Prefix + "file-mode-"

	// AnnotationOptionalPrefix, "true", lets the init container finish
	// without this secret.
	//
	//	secrets.tradepulse.io/optional-wandb: "true"
	AnnotationOptionalPrefix = Prefix + "optional-"

	// AnnotationRefreshIntervalPrefix overrides refresh-interval for one
	// secret: a Go duration of at least the cluster's minimum.
	//
	//	secrets.tradepulse.io/refresh-interval-exchange-binance-api-key: 30s
	AnnotationRefreshIntervalPrefix = Prefix + "refresh-interval-"

	// AnnotationCertCommonNamePrefix makes the secret a certificate issued
	// for the pod by Vault's PKI engine (backend vault; secret-<name> is an
	// issuing path, <mount>/issue/<role>) and is its common name: a DNS
	// name (a leading "*." allowed) or an e-mail address, at most 64
	// characters. Any cert-* key makes the secret a certificate; its
	// format defaults to json: <name>/cert.pem, <name>/key.pem and
	// <name>/ca.pem, issued anew at about 2/3 of the certificate's
	// validity. The role decides what it signs.
	//
	//	secrets.tradepulse.io/cert-common-name-web-tls: web.trading.svc
	AnnotationCertCommonNamePrefix = Prefix + "cert-common-name-"

	// AnnotationCertAltNamesPrefix lists the certificate's DNS subject
	// alternative names, comma-separated (at most 32).
	//
	//	secrets.tradepulse.io/cert-alt-names-web-tls: web,web.trading,*.web.trading.svc
	AnnotationCertAltNamesPrefix = Prefix + "cert-alt-names-"

	// AnnotationCertIPSANsPrefix lists the certificate's IP subject
	// alternative names, comma-separated (at most 32).
	//
	//	secrets.tradepulse.io/cert-ip-sans-web-tls: 127.0.0.1,::1
	AnnotationCertIPSANsPrefix = Prefix + "cert-ip-sans-"

	// AnnotationCertTTLPrefix is the certificate's requested lifetime, a
	// Go duration from 1s to 87600h; default the role's. The role's
	// max_ttl caps it.
	//
	//	secrets.tradepulse.io/cert-ttl-web-tls: 24h
	AnnotationCertTTLPrefix = Prefix + "cert-ttl-"
)

// Annotation values with a fixed meaning.
const (
	// StatusInjected is the value of AnnotationStatus on an injected pod.
	StatusInjected = "injected"

	ModeInitSidecar = "init+sidecar"
	ModeInit        = "init"
	ModeSidecar     = "sidecar"

	ReloadNone    = "none"
	ReloadRestart = "restart"
	// ReloadSignalPrefix starts a signal reload: signal:<SIGNAL>:<process>.
	ReloadSignalPrefix = "signal:"
)

// Modes lists the values of AnnotationMode, default first.
var Modes = []string{ModeInitSidecar, ModeInit, ModeSidecar}

// podKeys is every pod-level key, for the unknown-key check and its
// "did you mean" hint.
var podKeys = []string{
	AnnotationInject, AnnotationStatus, AnnotationBackend, AnnotationMode,
	AnnotationRefreshInterval, AnnotationVaultRole, AnnotationVaultAuthPath,
	AnnotationVaultAddress, AnnotationVaultAuthMethod, AnnotationVaultNamespace,
	AnnotationVaultRevokeOnShutdown, AnnotationInitTimeout,
	AnnotationGCPProject, AnnotationAWSRegion, AnnotationAWSRoleARN,
	AnnotationMountPath, AnnotationContainers, AnnotationReload,
	AnnotationOwner, AnnotationAgentImage, AnnotationAgentCPURequest,
	AnnotationAgentMemoryRequest, AnnotationAgentMemoryLimit,
	AnnotationEnvMode, AnnotationEnvContainers, AnnotationEnvReload,
	AnnotationDigest,
}

// secretKeyPrefixes is every per-secret prefix. Exact pod-level keys are
// matched first, so "refresh-interval" is the pod's and
// "refresh-interval-x" is secret x's.
var secretKeyPrefixes = []string{
	AnnotationSecretPrefix, AnnotationFormatPrefix, AnnotationTemplatePrefix,
	AnnotationFieldsPrefix, AnnotationFileModePrefix, AnnotationOptionalPrefix,
	AnnotationRefreshIntervalPrefix, AnnotationCertCommonNamePrefix,
	AnnotationCertAltNamesPrefix, AnnotationCertIPSANsPrefix, AnnotationCertTTLPrefix,
	AnnotationEnvNamePrefix,
}

// Env mode's keys (envmode.go): the secrets reach the app as environment
// variables, set by a wrapper (the agent binary's exec command) that
// starts the app's stated command.
const (
	// AnnotationEnvMode turns env mode on: the init container copies the
	// agent binary into a volume, and each wrapped container's command
	// becomes that binary's exec command followed by the container's own
	// command, which the pod must state. Default: "false".
	//
	//	secrets.tradepulse.io/env-mode: "true"
	AnnotationEnvMode = Prefix + "env-mode"

	// AnnotationEnvContainers names, comma-separated, the containers whose
	// command is wrapped. Default: every container that gets the secrets
	// volume (annotation containers), init containers excepted.
	//
	//	secrets.tradepulse.io/env-containers: engine
	AnnotationEnvContainers = Prefix + "env-containers"

	// AnnotationEnvReload says what the wrapper does when a secret
	// changes: restart (default: SIGTERM, the pod's
	// terminationGracePeriodSeconds, SIGKILL, then start the app again
	// with the new values), signal:<SIGNAL> (the app keeps its
	// environment and must re-read the files) or none.
	//
	//	secrets.tradepulse.io/env-reload: signal:SIGHUP
	AnnotationEnvReload = Prefix + "env-reload"

	// AnnotationEnvNamePrefix names the variable of a raw or template
	// secret. Default: the secret's name in upper case with '.' and '-'
	// as '_' (binance-api-key: BINANCE_API_KEY).
	//
	//	secrets.tradepulse.io/env-name-binance-api-key: BINANCE_KEY
	AnnotationEnvNamePrefix = Prefix + "env-name-"
)
