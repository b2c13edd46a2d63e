package injector

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tradepulse/secret-injector/agent/config"
)

// Env mode: for apps that read their secrets only from their environment
// (vault-k8s#14). The init container copies the agent binary into a small
// volume of its own; each wrapped container's command becomes
//
//	<BinPath> exec --dir <mount path> --reload <r> --grace <g> \
//	    --var NAME=<secret> ... --env-file <secret> ... -- <its command>
//
// and its args stay as they were. The wrapper reads the files at exec time
// and after each change, so no value is ever in the pod spec.
const (
	// BinVolumeName is the volume the init container copies the agent
	// binary into. It is not the secrets volume: that one is in memory and
	// sized for secrets, and the binary is not secret.
	BinVolumeName = "secret-injector-bin"
	// BinDir is where the bin volume is mounted, read-only in the wrapped
	// containers, writable in the init container.
	BinDir = agentDir + "/bin"
	// BinPath is the wrapper, the copied agent binary.
	BinPath = BinDir + "/secret-injector-agent"
	// execCommand is the agent binary's wrapper command.
	execCommand = "exec"
)

// binVolumeSize bounds the bin volume: the agent binary (about 25 MiB)
// and a copy being renamed over it by a restarted init container.
var binVolumeSize = resource.MustParse("64Mi")

// defaultEnvGrace is the restart grace when the pod sets no
// terminationGracePeriodSeconds: Kubernetes' default.
const defaultEnvGrace = 30 * time.Second

// Reload values of env-reload beyond none and restart.
const envReloadSignalPrefix = "signal:"

// EnvMode is env mode's part of a Spec: which containers are wrapped and
// what the wrapper sets.
type EnvMode struct {
	// Containers are named by env-containers; nil means every app
	// container that gets the secrets volume.
	Containers []string
	// Reload is the wrapper's --reload: restart, none or signal:<SIGNAL>.
	Reload string
	// Vars are the variables that are each one file (raw and template
	// secrets), in the secrets' order.
	Vars []EnvVar
	// EnvFiles are the secrets of format env: their keys are variables.
	EnvFiles []string
}

// EnvVar is a variable set to the content of a secret's file.
type EnvVar struct {
	Name, Secret string
}

// envName is a secret's variable where env-name-<name> does not set one:
// binance-api-key is BINANCE_API_KEY. It may not be a valid name (a
// leading digit); the parser says so.
func envName(secret string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' {
			return '_'
		}
		return r
	}, strings.ToUpper(secret))
}

// envMode reads env mode's keys; nil when env mode is off.
func (p *parser) envMode(mode string, decls map[string]map[string]string, secrets []config.Secret) *EnvMode {
	on := false
	if v, ok := p.ann[AnnotationEnvMode]; ok {
		b, r := parseBool(v)
		if r != "" {
			p.add(AnnotationEnvMode, "%s", r)
		}
		on = b
	}
	if !on {
		for _, k := range []string{AnnotationEnvContainers, AnnotationEnvReload} {
			if _, ok := p.ann[k]; ok {
				p.add(k, "only used with %s: \"true\"", AnnotationEnvMode)
			}
		}
		for _, s := range secrets {
			if _, ok := decls[s.Name][AnnotationEnvNamePrefix]; ok {
				p.add(AnnotationEnvNamePrefix+s.Name, "only used with %s: \"true\"", AnnotationEnvMode)
			}
		}
		return nil
	}
	if mode == ModeSidecar {
		p.add(AnnotationEnvMode, "needs the init container, which copies the wrapper and writes the secrets before the app starts; use mode %s or %s", ModeInitSidecar, ModeInit)
	}
	e := &EnvMode{Reload: ReloadRestart}
	if _, ok := p.ann[AnnotationEnvContainers]; ok {
		e.Containers = p.containerList(AnnotationEnvContainers)
	}
	if v, ok := p.ann[AnnotationEnvReload]; ok {
		e.Reload = v
		sig, isSignal := strings.CutPrefix(v, envReloadSignalPrefix)
		switch {
		case v == ReloadRestart || v == ReloadNone:
		case isSignal:
			if err := config.ValidateSignal(sig); err != nil {
				p.add(AnnotationEnvReload, "signal %v; write signal:<SIGNAL>", err)
			}
		default:
			p.add(AnnotationEnvReload, "%s is not one of restart, signal:<SIGNAL> or none", quote(v))
		}
	}
	// by is which secret sets each variable known at admission.
	by := map[string]string{}
	claim := func(key, variable, secret string) {
		if other, dup := by[variable]; dup && other != secret {
			p.add(key, "variable %s is also set by secret %s; name one of them otherwise", variable, quote(other))
			return
		}
		by[variable] = secret
	}
	for _, s := range secrets {
		nameKey := AnnotationEnvNamePrefix + s.Name
		named, hasName := decls[s.Name][AnnotationEnvNamePrefix]
		switch s.Format {
		case config.FormatRaw, config.FormatTemplate:
			v := envName(s.Name)
			switch {
			case hasName && !config.ValidEnvName(named):
				p.add(nameKey, "%s is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", quote(named))
				continue
			case hasName:
				v = named
			case !config.ValidEnvName(v):
				p.add(AnnotationSecretPrefix+s.Name, "in env mode its variable would be %s, which is not an environment variable name; name it with %s", quote(v), nameKey)
				continue
			}
			claim(nameKey, v, s.Name)
			e.Vars = append(e.Vars, EnvVar{Name: v, Secret: s.Name})
		case config.FormatEnv:
			if hasName {
				p.add(nameKey, "a format env secret sets the variables its keys name (rename them with %s); env-name is for raw and template secrets", AnnotationFieldsPrefix+s.Name)
			}
			for _, to := range slices.Sorted(maps.Keys(invert(s.Fields))) {
				claim(AnnotationFieldsPrefix+s.Name, to, s.Name)
			}
			e.EnvFiles = append(e.EnvFiles, s.Name)
		default:
			if hasName {
				p.add(nameKey, "a format %s secret stays files only in env mode; env-name is for raw and template secrets (and format env sets its keys)", s.Format)
			}
		}
	}
	return e
}

func invert(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

// selectWrapped decides which app containers env mode wraps, and denies
// what cannot be wrapped: a container that states no command, since the
// wrapper must start it and the image's entrypoint cannot be read at
// admission.
func selectWrapped(pod *corev1.Pod, spec *Spec, sel targets, probs *problems) map[string]bool {
	if spec.Env == nil {
		return nil
	}
	wrap := map[string]bool{}
	key := AnnotationEnvMode
	if spec.Env.Containers == nil {
		for n := range sel.regular {
			wrap[n] = true
		}
	} else {
		key = AnnotationEnvContainers
		var apps []string
		for _, c := range pod.Spec.Containers {
			if !ours(c.Name) {
				apps = append(apps, c.Name)
			}
		}
		isInit := func(n string) bool {
			return slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == n })
		}
		for _, n := range spec.Env.Containers {
			switch {
			case ours(n):
				probs.add(key, fmt.Sprintf("%s is the injector's own container", quote(n)))
			case sel.regular[n]:
				wrap[n] = true
			case slices.Contains(apps, n):
				probs.add(key, fmt.Sprintf("container %s does not get the secrets volume, which its wrapper reads; add it to %s", quote(n), AnnotationContainers))
			case isInit(n):
				probs.add(key, fmt.Sprintf("%s is an init container; env mode wraps app containers only", quote(n)))
			default:
				probs.add(key, fmt.Sprintf("the pod has no app container named %s; it has: %s", quote(n), orNone(apps)))
			}
		}
	}
	if len(wrap) == 0 && spec.Env.Containers == nil {
		probs.add(key, fmt.Sprintf("wraps no container: no app container gets the secrets volume (%s lists init containers only)", AnnotationContainers))
	}
	for _, c := range pod.Spec.Containers {
		if !wrap[c.Name] {
			continue
		}
		if cmd := unwrapCommand(c.Command); len(cmd) == 0 {
			probs.add(key, fmt.Sprintf("container %s states no command: env mode's wrapper starts it, and the image's entrypoint cannot be read at admission; add command: to container %s (the image's ENTRYPOINT, and its CMD unless the container sets args)", quote(c.Name), quote(c.Name)))
		}
		for _, m := range c.VolumeMounts {
			if m.Name != BinVolumeName && path.Clean(m.MountPath) == BinDir {
				probs.add(key, fmt.Sprintf("container %s already mounts volume %s at %s, where env mode puts its wrapper", quote(c.Name), quote(m.Name), BinDir))
			}
		}
	}
	return wrap
}

// unwrapCommand is a container's own command: as it is, or from behind
// the wrapper where an earlier injection put it.
func unwrapCommand(cmd []string) []string {
	if len(cmd) < 2 || cmd[0] != BinPath || cmd[1] != execCommand {
		return cmd
	}
	if i := slices.Index(cmd, "--"); i >= 0 {
		return cmd[i+1:]
	}
	return cmd
}

// wrapCommand puts the wrapper in front of cmd. The flags name variables
// and files, never values.
func wrapCommand(e *EnvMode, mountPath string, grace time.Duration, cmd []string) []string {
	out := []string{BinPath, execCommand, "--dir", mountPath, "--reload", e.Reload, "--grace", grace.String()}
	for _, v := range e.Vars {
		out = append(out, "--var", v.Name+"="+v.Secret)
	}
	for _, f := range e.EnvFiles {
		out = append(out, "--env-file", f)
	}
	out = append(out, "--")
	return append(out, cmd...)
}

// envGrace is how long a restart waits for the app: the pod's own
// termination grace period, which the app is made to stop within.
func envGrace(pod *corev1.Pod) time.Duration {
	if s := pod.Spec.TerminationGracePeriodSeconds; s != nil {
		return time.Duration(max(*s, 1)) * time.Second
	}
	return defaultEnvGrace
}

// applyEnvMode wraps the selected containers' commands and gives them the
// bin volume, and unwraps the others (a pod injected before with env mode
// on), so that re-injection always rebuilds the same pod.
func applyEnvMode(pod *corev1.Pod, spec *Spec, sel targets) {
	ps := &pod.Spec
	if spec.Env != nil {
		ps.Volumes = upsertVolume(ps.Volumes, binVolume())
	} else {
		ps.Volumes = slices.DeleteFunc(ps.Volumes, func(v corev1.Volume) bool { return v.Name == BinVolumeName })
	}
	grace := envGrace(pod)
	for i := range ps.Containers {
		c := &ps.Containers[i]
		if ours(c.Name) {
			continue
		}
		cmd := unwrapCommand(c.Command)
		if sel.wrap[c.Name] {
			c.Command = wrapCommand(spec.Env, spec.Config.MountPath, grace, cmd)
		} else if len(cmd) != len(c.Command) {
			c.Command = slices.Clone(cmd)
		}
		c.VolumeMounts = setMount(c.VolumeMounts, sel.wrap[c.Name], corev1.VolumeMount{Name: BinVolumeName, MountPath: BinDir, ReadOnly: true})
	}
}

// envInit makes the init container copy the agent binary for the
// wrapper, first of all.
func envInit(init *corev1.Container, spec *Spec) {
	if init == nil || spec.Env == nil {
		return
	}
	init.Args = append(init.Args, "--install-exec", BinPath)
	init.VolumeMounts = append(init.VolumeMounts, corev1.VolumeMount{Name: BinVolumeName, MountPath: BinDir})
}

// binVolume holds the copied agent binary. On the node's disk, not in
// memory: it is not secret, and in memory its 25 MiB would count against
// the pod's memory.
func binVolume() corev1.Volume {
	limit := binVolumeSize.DeepCopy()
	return corev1.Volume{Name: BinVolumeName, VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &limit},
	}}
}

// setMount adds, keeps in place (as want) or removes the mount of want's
// volume.
func setMount(mounts []corev1.VolumeMount, on bool, want corev1.VolumeMount) []corev1.VolumeMount {
	out := mounts[:0:0]
	placed := false
	for _, m := range mounts {
		if m.Name != want.Name {
			out = append(out, m)
		} else if on && !placed {
			out = append(out, want)
			placed = true
		}
	}
	if on && !placed {
		out = append(out, want)
	}
	return out
}
