package injector

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// minAgentMemoryLimit is the smallest memory limit the agent starts under:
// its working set in a real pod is 5–7 MiB (make chaos). A limit such as "64" (bytes,
// the unit forgotten) would otherwise only show as an OOM-killed container.
var minAgentMemoryLimit = resource.MustParse("16Mi")

// resourceKeys maps each resource annotation to the list and resource it
// sets.
var resourceKeys = []struct {
	key   string
	limit bool
	name  corev1.ResourceName
}{
	{AnnotationAgentCPURequest, false, corev1.ResourceCPU},
	{AnnotationAgentMemoryRequest, false, corev1.ResourceMemory},
	{AnnotationAgentMemoryLimit, true, corev1.ResourceMemory},
}

// resources starts from the cluster's agent resources and applies the pod's
// overrides, denying a request above its limit (the API server would reject
// the pod with a message that does not name our annotation).
func (p *parser) resources() corev1.ResourceRequirements {
	res := *p.opts.Resources.DeepCopy()
	var fromAnnotation []string
	for _, rk := range resourceKeys {
		v, ok := p.ann[rk.key]
		if !ok {
			continue
		}
		q, err := resource.ParseQuantity(v)
		switch {
		case err != nil:
			p.add(rk.key, "%s is not a quantity such as \"50m\" or \"64Mi\"", quote(v))
			continue
		case q.Sign() <= 0:
			p.add(rk.key, "%s must be positive", quote(v))
			continue
		case rk.limit && rk.name == corev1.ResourceMemory && q.Cmp(minAgentMemoryLimit) < 0:
			p.add(rk.key, "%s is below the %s the agent needs", quote(v), minAgentMemoryLimit.String())
			continue
		}
		list := &res.Requests
		if rk.limit {
			list = &res.Limits
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[rk.name] = q
		fromAnnotation = append(fromAnnotation, rk.key)
	}
	for _, name := range overLimit(res) {
		// Blame the request if the pod set it, else the limit the pod set.
		for _, rk := range resourceKeys {
			if rk.name == name && slices.Contains(fromAnnotation, rk.key) {
				p.add(rk.key, "the agent's %s request %s is above its limit %s",
					name, ptrTo(res.Requests[name]).String(), ptrTo(res.Limits[name]).String())
				break
			}
		}
	}
	return res
}

// overLimit lists the resources whose request exceeds their limit.
func overLimit(res corev1.ResourceRequirements) []corev1.ResourceName {
	var over []corev1.ResourceName
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := res.Requests[name]
		lim, hasLim := res.Limits[name]
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			over = append(over, name)
		}
	}
	return over
}

func ptrTo(q resource.Quantity) *resource.Quantity { return &q }
