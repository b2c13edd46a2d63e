// Package ekstest plays the EKS Pod Identity webhook
// (github.com/aws/amazon-eks-pod-identity-webhook) in tests: the mutation
// it documents for IRSA and for EKS Pod Identity, as a function on a pod
// and as an admission webhook the real API server can call.
//
// It is written from that project's documentation and behaviour, not its
// code: every container and init container of the pod, except those named
// in eks.amazonaws.com/skip-containers, gets the identity variables (a
// group only where none of it is set; the region pair only where neither
// is set) and a read-only mount of a projected service-account token (only
// where that volume is not mounted yet); the pod gets the token volume,
// first in its list, unless it has one of that name.
package ekstest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// What EKS uses by default.
const (
	IRSAVolume    = "aws-iam-token"
	IRSAMountPath = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
	IRSATokenFile = IRSAMountPath + "/token"
	IRSAAudience  = "sts.amazonaws.com"

	PodIdentityVolume    = "eks-pod-identity-token"
	PodIdentityMountPath = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
	PodIdentityTokenFile = PodIdentityMountPath + "/eks-pod-identity-token"
	PodIdentityAudience  = "pods.eks.amazonaws.com"
	// PodIdentityURI is the EKS Pod Identity agent's endpoint on the node.
	PodIdentityURI = "http://169.254.170.23/v1/credentials"

	// SkipContainers is the pod annotation listing containers to leave
	// alone.
	SkipContainers = "eks.amazonaws.com/skip-containers"
)

// Identity is what the webhook gives a pod: IRSA when RoleARN is set,
// else EKS Pod Identity.
type Identity struct {
	// RoleARN is the IRSA role (the service account's
	// eks.amazonaws.com/role-arn annotation).
	RoleARN string
	// Region, when set, becomes AWS_REGION and AWS_DEFAULT_REGION.
	Region string
	// RegionalSTS sets AWS_STS_REGIONAL_ENDPOINTS=regional.
	RegionalSTS bool
}

// IRSA is the identity of a service account annotated with roleARN, on a
// webhook configured with a region and regional STS endpoints.
func IRSA(roleARN, region string) Identity {
	return Identity{RoleARN: roleARN, Region: region, RegionalSTS: true}
}

// PodIdentity is an EKS Pod Identity association's identity.
func PodIdentity(region string) Identity {
	return Identity{Region: region}
}

func (id Identity) volume() (name, mountPath, tokenFile, audience string) {
	if id.RoleARN != "" {
		return IRSAVolume, IRSAMountPath, IRSATokenFile, IRSAAudience
	}
	return PodIdentityVolume, PodIdentityMountPath, PodIdentityTokenFile, PodIdentityAudience
}

// Mutate applies the webhook's mutation to pod and reports whether it
// changed anything.
func (id Identity) Mutate(pod *corev1.Pod) bool {
	skip := map[string]bool{}
	for _, n := range strings.Split(pod.Annotations[SkipContainers], ",") {
		skip[strings.TrimSpace(n)] = true
	}
	changed := false
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if !skip[list[i].Name] && id.mutateContainer(&list[i]) {
				changed = true
			}
		}
	}
	name, _, tokenFile, audience := id.volume()
	if !slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == name }) {
		v := corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: audience, ExpirationSeconds: ptr.To[int64](86400), Path: tokenFile[strings.LastIndex(tokenFile, "/")+1:],
			}}},
		}}}
		pod.Spec.Volumes = append([]corev1.Volume{v}, pod.Spec.Volumes...)
		changed = true
	}
	return changed
}

func (id Identity) mutateContainer(c *corev1.Container) bool {
	has := func(names ...string) bool {
		return slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return slices.Contains(names, e.Name) })
	}
	name, mountPath, tokenFile, _ := id.volume()
	changed := false
	add := func(n, v string) { c.Env = append(c.Env, corev1.EnvVar{Name: n, Value: v}); changed = true }
	if id.RegionalSTS && !has("AWS_STS_REGIONAL_ENDPOINTS") {
		add("AWS_STS_REGIONAL_ENDPOINTS", "regional")
	}
	if id.Region != "" && !has("AWS_REGION", "AWS_DEFAULT_REGION") {
		add("AWS_DEFAULT_REGION", id.Region)
		add("AWS_REGION", id.Region)
	}
	switch {
	case id.RoleARN != "" && !has("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
		add("AWS_ROLE_ARN", id.RoleARN)
		add("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile)
	case id.RoleARN == "" && !has("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"):
		add("AWS_CONTAINER_CREDENTIALS_FULL_URI", PodIdentityURI)
		add("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokenFile)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == name }) {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: mountPath, ReadOnly: true})
		changed = true
	}
	return changed
}

// patchOp is one JSON patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Handler serves AdmissionReview v1 for pod CREATE: it answers with a JSON
// patch that replaces the containers, init containers and volumes with
// the mutated ones, as the real webhook replaces the container lists.
// calls, if not nil, counts the reviews it answered.
func (id Identity) Handler(calls *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
		var review admissionv1.AdmissionReview
		if err == nil {
			err = json.Unmarshal(body, &review)
		}
		if err != nil || review.Request == nil {
			http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
			return
		}
		if calls != nil {
			calls.Add(1)
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		var pod corev1.Pod
		if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
			resp.Allowed = false
			resp.Result = &metav1.Status{Message: "ekstest: pod: " + err.Error()}
		} else if id.Mutate(&pod) {
			ops := []patchOp{
				{Op: "add", Path: "/spec/containers", Value: pod.Spec.Containers},
				{Op: "add", Path: "/spec/volumes", Value: pod.Spec.Volumes},
			}
			if len(pod.Spec.InitContainers) > 0 {
				ops = append(ops, patchOp{Op: "add", Path: "/spec/initContainers", Value: pod.Spec.InitContainers})
			}
			patch, _ := json.Marshal(ops)
			resp.Patch = patch
			resp.PatchType = ptr.To(admissionv1.PatchTypeJSONPatch)
		}
		review.Response = resp
		review.Request = nil
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review)
	})
}

// NewServer serves Handler over TLS on 127.0.0.1; its Certificate is the
// caBundle for the webhook configuration.
func (id Identity) NewServer(calls *atomic.Int64) *httptest.Server {
	return httptest.NewTLSServer(id.Handler(calls))
}
