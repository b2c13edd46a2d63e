package injector

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// Op is one operation of a JSON patch (RFC 6902), the answer of a mutating
// webhook.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// JSON patch operations.
const (
	OpAdd     = "add"
	OpRemove  = "remove"
	OpReplace = "replace"
)

// Patch is Inject as a JSON patch: the operations that turn pod, as it was
// encoded (by the API server, say), into the pod Inject makes of it. pod is
// left unchanged. No operations and no error: the pod is not opted in, or
// is already injected as it would be now (Inject would report
// changed=false); for an injected pod this costs building the agent's
// containers and comparing them, the volumes and the mounts with the pod's,
// and no copy or comparison of the rest of the pod.
//
// The operations are written from what the injector owns, never from a
// diff of the whole pod: the status annotation, shareProcessNamespace, the
// secrets, token and bin volumes, the secrets and bin mounts and the
// command (env mode's wrapper) of each app container, and the agent's
// containers, each added, replaced where it differs from what Inject
// writes, or removed. Everything else, including fields that our Go
// types do not know, is left to the encoded pod as it was.
func Patch(pod *corev1.Pod, opts Options) ([]Op, error) {
	opts, err := opts.checked()
	if err != nil {
		return nil, err
	}
	out, err := inject(pod, opts)
	if out == nil {
		return nil, err
	}
	return patchOps(pod, out)
}

// patchOps writes the operations that turn in into out, where out is in
// injected: the parts apply changes, and only those.
func patchOps(in, out *corev1.Pod) ([]Op, error) {
	var p patch
	p.annotations(in.Annotations, out.Annotations)
	if !equality.Semantic.DeepEqual(in.Spec.ShareProcessNamespace, out.Spec.ShareProcessNamespace) {
		if out.Spec.ShareProcessNamespace == nil {
			p.add(OpRemove, "/spec/shareProcessNamespace", nil)
		} else {
			p.add(OpAdd, "/spec/shareProcessNamespace", *out.Spec.ShareProcessNamespace)
		}
	}
	ownVolume := func(v *corev1.Volume) bool {
		return v.Name == VolumeName || v.Name == TokenVolumeName || v.Name == VaultCAVolumeName || v.Name == BinVolumeName
	}
	ownMount := func(m *corev1.VolumeMount) bool { return m.Name == VolumeName || m.Name == BinVolumeName }
	ownContainer := func(c *corev1.Container) bool { return ours(c.Name) }
	if err := editList(&p, "/spec/volumes", in.Spec.Volumes, out.Spec.Volumes, ownVolume); err != nil {
		return nil, err
	}
	// The app mounts first, at the containers' indices before the agent's
	// containers move.
	for _, l := range []struct {
		path    string
		in, out []corev1.Container
	}{
		{"/spec/containers", in.Spec.Containers, out.Spec.Containers},
		{"/spec/initContainers", in.Spec.InitContainers, out.Spec.InitContainers},
	} {
		j := 0
		for i := range l.in {
			if ours(l.in[i].Name) {
				continue
			}
			for j < len(l.out) && ours(l.out[j].Name) {
				j++
			}
			if j == len(l.out) || l.out[j].Name != l.in[i].Name {
				return nil, fmt.Errorf("injector: internal error: container %q is not where it was in %s", l.in[i].Name, l.path)
			}
			path := l.path + "/" + strconv.Itoa(i) + "/volumeMounts"
			if err := editList(&p, path, l.in[i].VolumeMounts, l.out[j].VolumeMounts, ownMount); err != nil {
				return nil, err
			}
			// Env mode wraps the command (envmode.go).
			p.command(l.path+"/"+strconv.Itoa(i)+"/command", l.in[i].Command, l.out[j].Command)
			j++
		}
	}
	if err := editList(&p, "/spec/initContainers", in.Spec.InitContainers, out.Spec.InitContainers, ownContainer); err != nil {
		return nil, err
	}
	if err := editList(&p, "/spec/containers", in.Spec.Containers, out.Spec.Containers, ownContainer); err != nil {
		return nil, err
	}
	return p.ops, nil
}

type patch struct{ ops []Op }

func (p *patch) add(op, path string, value any) {
	p.ops = append(p.ops, Op{Op: op, Path: path, Value: value})
}

// annotations sets the keys whose values differ and removes the keys out
// no longer has; without annotations, it adds them whole.
func (p *patch) annotations(in, out map[string]string) {
	if len(in) == 0 {
		if len(out) > 0 {
			p.add(OpAdd, "/metadata/annotations", out)
		}
		return
	}
	var keys []string
	for k, v := range out {
		if old, ok := in[k]; !ok || old != v {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		p.add(OpAdd, "/metadata/annotations/"+escapePointer(k), out[k])
	}
	keys = keys[:0]
	for k := range in {
		if _, ok := out[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		p.add(OpRemove, "/metadata/annotations/"+escapePointer(k), nil)
	}
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// escapePointer escapes a JSON pointer's reference token (RFC 6901).
func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return pointerEscaper.Replace(s)
}

// editList writes the operations that turn the list in into out, where
// out keeps the items in that own does not claim, in order and unchanged
// (the app's containers, volumes, mounts), and the injector has added,
// replaced, moved or removed the items it owns. Around each kept item, the
// owned items of in and of out are paired in order: a pair that differs is
// replaced, extra items of in are removed, extra items of out are added.
// An empty in becomes out whole, so that a list the pod does not have is
// created.
func editList[T any](p *patch, path string, in, out []T, own func(*T) bool) error {
	if len(in) == 0 {
		if len(out) > 0 {
			p.add(OpAdd, path, out)
		}
		return nil
	}
	i, j, at := 0, 0, 0 // in, out, and the index in the list being patched
	for {
		i0, j0 := i, j
		for i < len(in) && own(&in[i]) {
			i++
		}
		for j < len(out) && own(&out[j]) {
			j++
		}
		n := min(i-i0, j-j0)
		for k := range n {
			if !equality.Semantic.DeepEqual(in[i0+k], out[j0+k]) {
				p.add(OpReplace, path+"/"+strconv.Itoa(at), &out[j0+k])
			}
			at++
		}
		for range i - i0 - n {
			p.add(OpRemove, path+"/"+strconv.Itoa(at), nil)
		}
		for k := j0 + n; k < j; k++ {
			p.add(OpAdd, path+"/"+strconv.Itoa(at), &out[k])
			at++
		}
		if i == len(in) || j == len(out) {
			if i != len(in) || j != len(out) {
				return fmt.Errorf("injector: internal error: %s does not keep the pod's own items", path)
			}
			return nil
		}
		// in[i] and out[j] are the same item of the pod's.
		i, j, at = i+1, j+1, at+1
	}
}

// command sets a container's command where env mode wrapped or unwrapped
// it.
func (p *patch) command(path string, in, out []string) {
	switch {
	case slices.Equal(in, out):
	case len(out) == 0:
		p.add(OpRemove, path, nil)
	case len(in) == 0:
		p.add(OpAdd, path, out)
	default:
		p.add(OpReplace, path, out)
	}
}
