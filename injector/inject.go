// Package injector turns a pod's secrets.tradepulse.io/ annotations into a
// validated agent config and mutates the pod to run the agent: an in-memory
// secrets volume, an init container that fills it before the app starts, a
// sidecar that keeps it fresh, and the app mounts; in env mode it also
// puts the agent's exec wrapper in front of the app's command (envmode.go).
//
// It is pure: no network, no clock, no Kubernetes client. The webhook decodes
// the pod and calls Patch, which writes the JSON patch from what Inject adds
// and replaces (patch.go): the pod is neither re-encoded nor diffed.
// Injection is idempotent, so a reinvoked webhook changes nothing, and
// all-or-nothing: an invalid pod is denied with every problem named by its
// annotation, and is never half-injected.
package injector

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/agent/config"
)

// Inject validates pod's annotations and mutates pod in place. A pod without
// inject: "true" is left untouched (false, nil). Invalid input returns an
// error joining one *AnnotationError per problem and leaves pod unchanged.
// Injecting an injected pod rebuilds what the injector owns in the same
// places, so it changes nothing and reports changed=false.
func Inject(pod *corev1.Pod, opts Options) (changed bool, err error) {
	opts, err = opts.checked()
	if err != nil {
		return false, err
	}
	out, err := inject(pod, opts)
	if out == nil {
		return false, err
	}
	changed = !equality.Semantic.DeepEqual(pod, out)
	*pod = *out
	return changed, nil
}

// inject returns the injected pod, or nil with the denial, if any. It
// leaves pod unchanged; the injected pod shares with it what apply does not
// change (see copyForApply). opts come from Options.checked: validated
// once by the caller (a Digester at its construction), not per pod.
func inject(pod *corev1.Pod, opts Options) (*corev1.Pod, error) {
	if pod == nil {
		return nil, errors.New("injector: nil pod")
	}
	spec, optedIn, probs := parse(pod.Annotations, opts)
	if !optedIn || spec == nil {
		return nil, probs.err()
	}
	out := copyForApply(pod)
	sel := selectTargets(out, spec, opts, &probs)
	if err := probs.err(); err != nil {
		return nil, err
	}
	c := spec.Config
	id := sel.agent
	c.Owner = id.owner
	for i := range c.Secrets {
		s := &c.Secrets[i]
		s.Owner = nil // Normalize copies c.Owner
		if !spec.modeSet[s.Name] {
			s.Mode = id.defaultMode
		}
	}
	c.Normalize(nil)
	configJSON, err := c.Encode()
	if err != nil {
		return nil, fmt.Errorf("injector: encode agent config: %w", err)
	}
	apply(out, spec, opts, sel, configJSON)
	return out, nil
}

// copyForApply copies what apply changes in place: the annotations, and
// the lists of volumes and containers, whose items it replaces (a
// container's mounts are a new list). The rest is shared with pod, which
// is cheaper than a deep copy of the app's containers.
func copyForApply(pod *corev1.Pod) *corev1.Pod {
	out := *pod
	out.Annotations = maps.Clone(pod.Annotations)
	out.Spec.Volumes = slices.Clone(pod.Spec.Volumes)
	out.Spec.Containers = slices.Clone(pod.Spec.Containers)
	out.Spec.InitContainers = slices.Clone(pod.Spec.InitContainers)
	return &out
}

// targets are the containers that get the volume, and who the agent runs
// as.
type targets struct {
	regular, init map[string]bool
	agent         agentIdentity
	// wrap are the containers env mode wraps (envmode.go).
	wrap map[string]bool
}

func ours(name string) bool { return name == InitContainerName || name == SidecarName }

// selectTargets resolves the annotations against the pod: which containers
// get the volume, whether their mounts clash, whether the env backend has
// its file, and who owns the files.
func selectTargets(pod *corev1.Pod, spec *Spec, opts Options, probs *problems) targets {
	sel := targets{regular: map[string]bool{}, init: map[string]bool{}}
	var apps, inits []string
	for _, c := range pod.Spec.Containers {
		if !ours(c.Name) {
			apps = append(apps, c.Name)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if !ours(c.Name) {
			inits = append(inits, c.Name)
		}
	}
	classicSidecarOnly := spec.Mode == ModeSidecar && !opts.NativeSidecars
	if spec.Containers == nil {
		for _, n := range apps {
			sel.regular[n] = true
		}
		if len(apps) == 0 {
			probs.add(AnnotationInject, "the pod has no app container to mount the secrets into")
		}
	}
	for _, n := range spec.Containers {
		switch {
		case ours(n):
			probs.add(AnnotationContainers, fmt.Sprintf("%s is the injector's own container", quote(n)))
		case slices.Contains(apps, n):
			sel.regular[n] = true
		case slices.Contains(inits, n) && classicSidecarOnly:
			probs.add(AnnotationContainers, fmt.Sprintf("init container %s runs before a classic sidecar starts and would find no secrets; use mode init+sidecar or init", quote(n)))
		case slices.Contains(inits, n):
			sel.init[n] = true
		default:
			probs.add(AnnotationContainers, fmt.Sprintf("the pod has no container or init container named %s; it has: %s", quote(n), orNone(append(slices.Clone(apps), inits...))))
		}
	}
	mountPath := spec.Config.MountPath
	check := func(cs []corev1.Container, selected map[string]bool) {
		for _, c := range cs {
			if !selected[c.Name] {
				continue
			}
			for _, m := range c.VolumeMounts {
				if m.Name != VolumeName && path.Clean(m.MountPath) == mountPath {
					probs.add(AnnotationMountPath, fmt.Sprintf("container %s already mounts volume %s at %s; pick another mount path", quote(c.Name), quote(m.Name), mountPath))
				}
			}
		}
	}
	check(pod.Spec.Containers, sel.regular)
	check(pod.Spec.InitContainers, sel.init)
	sel.wrap = selectWrapped(pod, spec, sel, probs)
	if spec.Config.Backend.Type == config.BackendEnv && !slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == EnvVolumeName }) {
		probs.add(AnnotationBackend, fmt.Sprintf("env needs a pod volume named %s holding a .env file (e.g. from a ConfigMap); the agent reads it at %s", EnvVolumeName, EnvFile))
	}
	if pod.Spec.HostNetwork && spec.Mode != ModeInit && !opts.AllowHostNetwork {
		probs.add(AnnotationInject, fmt.Sprintf("the pod uses hostNetwork: true, where the agent sidecar's admin API (%s, no credential) and metrics port (%d) would listen on the node itself: any host-network process could refresh or revoke, and two such pods on one node collide on these ports; use mode init (no listener), or run the pod without hostNetwork", config.DefaultAdminAddr, agentMetricsPort))
	}
	if spec.Reload == "signal" && pod.Spec.HostPID {
		// The API server would refuse the injected pod ("may not be set
		// when hostPID is true") without naming our annotation.
		probs.add(AnnotationReload, "signal reload shares the pod's process namespace (shareProcessNamespace), which Kubernetes does not allow with hostPID: true; use an http:// reload URL on localhost, restart or none, or drop hostPID")
	}
	uid, gid := appIdentity(pod, sel, spec)
	sel.agent = agentIdentityFor(spec.Reload, uid, gid, opts)
	if sel.agent.groupShared {
		for _, s := range spec.Config.Secrets {
			if spec.modeSet[s.Name] && s.Mode&0o040 == 0 {
				probs.add(AnnotationFileModePrefix+s.Name, fmt.Sprintf("%s would keep the files from the app: they belong to the agent (uid %d) and reach the app through its group %d; use a mode the group can read, such as \"0440\"", quote(s.Mode.String()), sel.agent.uid, sel.agent.gid))
			}
		}
	}
	return sel
}

// groupFileMode is the default mode of files that reach the app through
// its group: the agent owns them under its own uid.
const groupFileMode config.FileMode = 0o440

// agentIdentity is who the agent runs as and who owns the files it writes.
type agentIdentity struct {
	uid, gid int64
	// owner goes into the agent config; nil keeps the agent's own uid and
	// gid.
	owner *config.Owner
	// defaultMode is the files' mode where file-mode-<name> is not set.
	defaultMode config.FileMode
	// groupShared: the agent runs under its own uid and the files reach
	// the app through its group only, so every mode must let the group
	// read.
	groupShared bool
}

// agentIdentityFor decides who the agent runs as. By default it is its own
// user (Options.AgentUID) in the app's group: the app then cannot reach the
// agent's process (its /proc entries, where its Vault token and memory are)
// even in a shared process namespace, and reads the files (0440) through
// its group; the agent needs no CAP_CHOWN, since it owns them and is in the
// group. Two cases keep the agent on the app's uid, the files owned by it
// (0400): signal reload, because kill(2) from an unprivileged process needs
// the same uid (CAP_KILL would need ambient capabilities, which the
// restricted Pod Security Standard forbids) — the agent makes itself
// non-dumpable there, which closes its /proc entries to the app; and an
// app whose group is unknown (runAsUser without runAsGroup or fsGroup), whose
// image decides its gid. Without a known uid or gid the agent runs as
// AgentUID:AgentUID and keeps its files.
func agentIdentityFor(reload string, uid, gid *int64, opts Options) agentIdentity {
	switch {
	case uid != nil && (reload == "signal" || gid == nil):
		g := *uid
		if gid != nil {
			g = *gid
		}
		return agentIdentity{uid: *uid, gid: g, owner: &config.Owner{UID: int(*uid), GID: int(g)}, defaultMode: config.DefaultFileMode}
	case gid != nil:
		return agentIdentity{uid: opts.AgentUID, gid: *gid, owner: &config.Owner{UID: int(opts.AgentUID), GID: int(*gid)},
			defaultMode: groupFileMode, groupShared: true}
	}
	return agentIdentity{uid: opts.AgentUID, gid: opts.AgentUID, defaultMode: config.DefaultFileMode}
}

// appIdentity is the app's uid and gid as far as the pod says: the owner
// annotation, else the first selected app container's (then init
// container's) runAsUser / runAsGroup, each falling back to the pod's
// securityContext, the gid further to the pod's fsGroup (a supplementary
// group of every container). A uid of 0 (root reads any file) or set only in
// the image counts as unknown, and so does a gid set nowhere.
func appIdentity(pod *corev1.Pod, sel targets, spec *Spec) (uid, gid *int64) {
	if o := spec.Config.Owner; o != nil {
		return ptr.To(int64(o.UID)), ptr.To(int64(o.GID))
	}
	var first *corev1.Container
	for i := range pod.Spec.Containers {
		if sel.regular[pod.Spec.Containers[i].Name] {
			first = &pod.Spec.Containers[i]
			break
		}
	}
	for i := range pod.Spec.InitContainers {
		if first == nil && sel.init[pod.Spec.InitContainers[i].Name] {
			first = &pod.Spec.InitContainers[i]
		}
	}
	if first != nil && first.SecurityContext != nil {
		uid, gid = first.SecurityContext.RunAsUser, first.SecurityContext.RunAsGroup
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		uid = cmpOr(uid, psc.RunAsUser)
		gid = cmpOr(gid, psc.RunAsGroup, psc.FSGroup)
	}
	if uid != nil && *uid <= 0 {
		uid = nil
	}
	if gid != nil && *gid < 0 {
		gid = nil
	}
	return uid, gid
}

// cmpOr returns the first non-nil pointer.
func cmpOr(ps ...*int64) *int64 {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

// apply mutates a pod that passed every check.
func apply(pod *corev1.Pod, spec *Spec, opts Options, sel targets, configJSON string) {
	ps := &pod.Spec
	ps.Volumes = upsertVolume(ps.Volumes, secretsVolume(opts))
	if spec.Config.Backend.Type == config.BackendVault {
		ps.Volumes = upsertVolume(ps.Volumes, tokenVolume(opts))
	} else {
		ps.Volumes = slices.DeleteFunc(ps.Volumes, func(v corev1.Volume) bool { return v.Name == TokenVolumeName })
	}
	if spec.Config.Backend.Type == config.BackendVault && opts.Vault.CABundle != nil {
		ps.Volumes = upsertVolume(ps.Volumes, vaultCAVolume(opts.Vault.CABundle))
	} else {
		ps.Volumes = slices.DeleteFunc(ps.Volumes, func(v corev1.Volume) bool { return v.Name == VaultCAVolumeName })
	}
	for i := range ps.Containers {
		if c := &ps.Containers[i]; !ours(c.Name) {
			c.VolumeMounts = setAppMount(c.VolumeMounts, sel.regular[c.Name], spec.Config.MountPath)
		}
	}
	for i := range ps.InitContainers {
		if c := &ps.InitContainers[i]; !ours(c.Name) {
			c.VolumeMounts = setAppMount(c.VolumeMounts, sel.init[c.Name], spec.Config.MountPath)
		}
	}

	applyEnvMode(pod, spec, sel)
	identity := findAWSIdentity(pod)
	init, sidecar := agentContainers(spec, opts, sel.agent, configJSON)
	for _, c := range []*corev1.Container{init, sidecar} {
		if c != nil {
			identity.addTo(c)
		}
	}
	// The first agent container to run copies the binary for env mode:
	// the init container, or the native sidecar that stands in for it.
	envInit(cmp.Or(init, sidecar), spec)
	var first []corev1.Container
	if init != nil {
		first = append(first, *init)
	}
	var classic *corev1.Container
	if sidecar != nil && opts.NativeSidecars {
		first = append(first, *sidecar)
	} else {
		classic = sidecar
	}
	ps.InitContainers = placeInit(ps.InitContainers, first)
	ps.Containers = placeClassic(ps.Containers, classic)

	if spec.Reload == "signal" {
		// The agent must see the app's processes to signal them.
		ps.ShareProcessNamespace = ptr.To(true)
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationStatus] = StatusInjected
}

// placeInit puts the agent's init containers where the first of them was,
// or first of all: app init containers that follow can read the secrets.
func placeInit(list, agent []corev1.Container) []corev1.Container {
	at := -1
	kept := list[:0:0]
	for _, c := range list {
		if ours(c.Name) {
			if at < 0 {
				at = len(kept)
			}
			continue
		}
		kept = append(kept, c)
	}
	return slices.Insert(kept, max(at, 0), agent...)
}

// placeClassic puts a classic sidecar where it was, or last; nil removes it.
func placeClassic(list []corev1.Container, sidecar *corev1.Container) []corev1.Container {
	at := -1
	kept := list[:0:0]
	for _, c := range list {
		if ours(c.Name) {
			at = len(kept)
			continue
		}
		kept = append(kept, c)
	}
	if sidecar == nil {
		return kept
	}
	if at < 0 {
		at = len(kept)
	}
	return slices.Insert(kept, at, *sidecar)
}

// setAppMount adds, keeps in place or removes the read-only secrets mount.
func setAppMount(mounts []corev1.VolumeMount, want bool, mountPath string) []corev1.VolumeMount {
	out := mounts[:0:0]
	placed := false
	for _, m := range mounts {
		if m.Name != VolumeName {
			out = append(out, m)
		} else if want && !placed {
			out = append(out, appMount(mountPath))
			placed = true
		}
	}
	if want && !placed {
		out = append(out, appMount(mountPath))
	}
	return out
}

// upsertVolume replaces the volume of the same name in place, or appends.
func upsertVolume(vols []corev1.Volume, v corev1.Volume) []corev1.Volume {
	for i := range vols {
		if vols[i].Name == v.Name {
			vols[i] = v
			return vols
		}
	}
	return append(vols, v)
}
