package injector

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/agent/config"
)

// AWS identity: what EKS gives a pod, and how it reaches the agent.
//
// The EKS Pod Identity webhook (amazon-eks-pod-identity-webhook, which
// serves both IRSA and EKS Pod Identity) adds the pod's AWS identity to
// every container and init container of the pod when the pod is created:
// environment variables and a read-only mount of a projected
// service-account token. It adds a variable group only where none of it
// is set, and a mount only where none of that volume is mounted, and it
// skips the containers named in its eks.amazonaws.com/skip-containers
// annotation.
//
// Admission webhooks run one after the other, so the agent containers get
// the identity in either order:
//
//   - EKS's webhook first: the app containers carry the identity when
//     Inject runs, and Inject copies it onto the agent containers;
//   - ours first: EKS's webhook mutates our agent containers like any
//     other. Our webhook's reinvocationPolicy IfNeeded (the chart's
//     default) then calls us again, and Inject, which rebuilds the agent
//     containers, copies the identity from the app containers once more:
//     the result is the pod EKS left, so the reinvocation changes nothing
//     instead of stripping the identity.
//
// Only the known variables and the mounts of the token files they name
// are copied, never other environment.

// The variables EKS's webhook sets, in the order it appends them.
const (
	EnvAWSStsRegionalEndpoints = "AWS_STS_REGIONAL_ENDPOINTS"
	EnvAWSDefaultRegion        = "AWS_DEFAULT_REGION"
	EnvAWSRegion               = "AWS_REGION"
	// IRSA: the role and the web identity token the SDK trades with STS.
	EnvAWSRoleARN              = "AWS_ROLE_ARN"
	EnvAWSWebIdentityTokenFile = "AWS_WEB_IDENTITY_TOKEN_FILE"
	// EKS Pod Identity: the node agent's credential endpoint and the token
	// the SDK presents to it.
	EnvAWSContainerCredentialsFullURI     = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	EnvAWSContainerAuthorizationTokenFile = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
)

// awsIdentityEnv is every variable Inject copies.
var awsIdentityEnv = []string{
	EnvAWSStsRegionalEndpoints, EnvAWSDefaultRegion, EnvAWSRegion,
	EnvAWSRoleARN, EnvAWSWebIdentityTokenFile,
	EnvAWSContainerCredentialsFullURI, EnvAWSContainerAuthorizationTokenFile,
}

// awsTokenFileEnv are the variables that name a token file, whose mount
// is copied with them.
var awsTokenFileEnv = []string{EnvAWSWebIdentityTokenFile, EnvAWSContainerAuthorizationTokenFile}

// EKSSkipContainersAnnotation is EKS's per-pod list of containers its
// webhook leaves alone; Inject honours it for the agent containers too.
const EKSSkipContainersAnnotation = "eks.amazonaws.com/skip-containers"

// Downward-API variables the agent builds its STS session name from when
// it assumes a role: at admission the pod often has no name yet (a
// ReplicaSet's pods have only generateName).
const (
	EnvPodName      = config.PodNameEnvVar
	EnvPodNamespace = config.PodNamespaceEnvVar
)

// awsIdentity is the identity found on a pod, ready to copy.
type awsIdentity struct {
	env    []corev1.EnvVar
	mounts []corev1.VolumeMount
	skip   map[string]bool // containers EKS skips
}

// findAWSIdentity takes the identity from the first container that carries
// an IRSA or Pod Identity credential: app containers, then app init
// containers, then our own (a pod EKS mutated after us, whose app
// containers EKS was told to skip).
func findAWSIdentity(pod *corev1.Pod) awsIdentity {
	id := awsIdentity{skip: map[string]bool{}}
	if v, ok := pod.Annotations[EKSSkipContainersAnnotation]; ok {
		for _, n := range strings.Split(v, ",") {
			id.skip[strings.TrimSpace(n)] = true
		}
	}
	var candidates []*corev1.Container
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if !ours(list[i].Name) {
				candidates = append(candidates, &list[i])
			}
		}
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if ours(list[i].Name) {
				candidates = append(candidates, &list[i])
			}
		}
	}
	for _, c := range candidates {
		if hasAWSCredential(c.Env) {
			id.env, id.mounts = awsIdentityOf(pod, c)
			return id
		}
	}
	return id
}

// hasAWSCredential reports whether env carries a whole IRSA or Pod
// Identity credential; a region alone is no identity.
func hasAWSCredential(env []corev1.EnvVar) bool {
	has := func(name string) bool {
		return slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
	}
	return (has(EnvAWSRoleARN) && has(EnvAWSWebIdentityTokenFile)) ||
		(has(EnvAWSContainerCredentialsFullURI) && has(EnvAWSContainerAuthorizationTokenFile))
}

// awsIdentityOf copies c's identity variables, in c's order, and the
// mounts that hold the token files they name. A mount is copied only if
// its volume is a projected service-account token, as EKS's is: a
// variable must not carry another volume (an app's own Secret) into the
// agent.
func awsIdentityOf(pod *corev1.Pod, c *corev1.Container) ([]corev1.EnvVar, []corev1.VolumeMount) {
	var env []corev1.EnvVar
	var files []string
	for _, e := range c.Env {
		if !slices.Contains(awsIdentityEnv, e.Name) {
			continue
		}
		env = append(env, *e.DeepCopy())
		if slices.Contains(awsTokenFileEnv, e.Name) && e.Value != "" {
			files = append(files, path.Clean(e.Value))
		}
	}
	var mounts []corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		dir := path.Clean(m.MountPath)
		holds := slices.ContainsFunc(files, func(f string) bool { return strings.HasPrefix(f, dir+"/") })
		if holds && isTokenVolume(pod, m.Name) {
			mounts = append(mounts, *m.DeepCopy())
		}
	}
	return env, mounts
}

// isTokenVolume reports whether the pod's volume name projects only
// service-account tokens.
func isTokenVolume(pod *corev1.Pod, name string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Name != name {
			continue
		}
		p := v.Projected
		if p == nil || len(p.Sources) == 0 {
			return false
		}
		for _, s := range p.Sources {
			if s.ServiceAccountToken == nil {
				return false
			}
		}
		return true
	}
	return false
}

// addTo appends the identity to an agent container the way EKS's webhook
// would: after its own variables, skipping names it already has (the
// agent's own and the cluster's agent env win) and volumes it already
// mounts, so that copying onto a container EKS already mutated changes
// nothing.
func (id awsIdentity) addTo(c *corev1.Container) {
	if id.skip[c.Name] {
		return
	}
	for _, e := range id.env {
		if !slices.ContainsFunc(c.Env, func(x corev1.EnvVar) bool { return x.Name == e.Name }) {
			c.Env = append(c.Env, e)
		}
	}
	for _, m := range id.mounts {
		if !slices.ContainsFunc(c.VolumeMounts, func(x corev1.VolumeMount) bool {
			return x.Name == m.Name || path.Clean(x.MountPath) == path.Clean(m.MountPath)
		}) {
			c.VolumeMounts = append(c.VolumeMounts, m)
		}
	}
}

// podEnv gives the agent its pod's name and namespace through the
// downward API.
func podEnv() []corev1.EnvVar {
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: p}}
	}
	return []corev1.EnvVar{
		{Name: EnvPodName, ValueFrom: field("metadata.name")},
		{Name: EnvPodNamespace, ValueFrom: field("metadata.namespace")},
	}
}

// maxRoleARNLength bounds an assume-role ARN: STS accepts at most 2048
// characters, and a real one (a 64-character name under a path) is far
// shorter.
const maxRoleARNLength = 1024

// roleARNRE is an IAM role ARN in any partition: account, optional path
// (printable ASCII but ':', which would add an ARN field), name.
var roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/(?:[\x21-\x39\x3b-\x7e]+/)?[A-Za-z0-9+=,.@_-]{1,64}$`)

// roleARNProblem checks an assume-role ARN's shape.
func roleARNProblem(v string) string {
	if len(v) > maxRoleARNLength || !roleARNRE.MatchString(v) {
		return fmt.Sprintf("%s is not an IAM role ARN such as \"arn:aws:iam::111122223333:role/secrets-reader\"", quote(v))
	}
	return ""
}

// rolePatternRE is what an allow-list pattern may contain: an ARN's
// characters, '*' and '?'.
var rolePatternRE = regexp.MustCompile(`^arn:[\x21-\x7e]+$`)

// rolePatternProblem checks an allow-list pattern (Options.AWSAllowedRoleARNs).
func rolePatternProblem(p string) string {
	if len(p) > maxRoleARNLength || !rolePatternRE.MatchString(p) {
		return "must be a role ARN or a pattern of one such as \"arn:aws:iam::111122223333:role/secrets-*\""
	}
	return ""
}

// roleAllowed reports whether arn matches one of the patterns. In a
// pattern '*' matches any run of characters but ':' and '?' one such
// character, so a wildcard never reaches across an ARN's fields: the
// account is matched by "arn:aws:iam::*:role/x" as a whole and nothing in
// a role name can pose as an account.
func roleAllowed(arn string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return globMatch(p, arn) })
}

// globMatch matches s against p ('*' and '?' as roleAllowed says): field
// by field between the colons, which must be as many in both.
func globMatch(p, s string) bool {
	pf, sf := strings.Split(p, ":"), strings.Split(s, ":")
	if len(pf) != len(sf) {
		return false
	}
	for i := range pf {
		if !fieldMatch(pf[i], sf[i]) {
			return false
		}
	}
	return true
}

// fieldMatch is the classic glob over one field, backtracking to the last
// '*' only: linear in practice, and bounded by the capped lengths.
func fieldMatch(p, s string) bool {
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			mark++
			pi, si = star+1, mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// awsRole reads the assume-role annotation and checks it against the
// cluster's allow-list.
func (p *parser) awsRole() string {
	v, ok := p.ann[AnnotationAWSRoleARN]
	if !ok {
		return ""
	}
	if r := roleARNProblem(v); r != "" {
		p.add(AnnotationAWSRoleARN, "%s", r)
		return ""
	}
	if !roleAllowed(v, p.opts.AWSAllowedRoleARNs) {
		p.add(AnnotationAWSRoleARN, "%s is not in the chart's allow-list defaults.aws.allowedRoleARNs (%s); ask the cluster's operators to add it, or use the pod's own identity",
			strconv.Quote(v), orNone(p.opts.AWSAllowedRoleARNs))
		return ""
	}
	return v
}

// assumesRole reports whether the agent assumes a role.
func assumesRole(c *config.Config) bool {
	return c.Backend.AWS != nil && c.Backend.AWS.RoleARN != ""
}
