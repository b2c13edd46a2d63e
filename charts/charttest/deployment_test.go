package charttest

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// deployment renders values and returns the webhook's Deployment.
func deployment(t *testing.T, helm string, values map[string]any) *appsv1.Deployment {
	t.Helper()
	ds := byKind(t, helm, values, "Deployment")
	if len(ds) != 1 {
		t.Fatalf("%d Deployments, want 1", len(ds))
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(ds[0].Object, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(d.Spec.Template.Spec.Containers))
	}
	return &d
}

// flagsOf returns the webhook container's --name=value flags.
func flagsOf(t *testing.T, d *appsv1.Deployment) map[string]string {
	t.Helper()
	flags := map[string]string{}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args[1:] {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		flags[k] = v
	}
	return flags
}

// containerPort returns the port a container port name stands for.
func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %q", c.Name, name)
	return 0
}

// resolve returns the container port a Service's or probe's port stands
// for: a number as it is, a name through the container's ports.
func resolve(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	return containerPort(t, c, p.StrVal)
}

// TestPorts: one value per port moves the listen flag, the container port
// and everything that addresses it (the Service, the probes, the metrics
// Service); with hostNetwork the pod takes the node's network.
func TestPorts(t *testing.T) {
	helm := helmBinary(t)
	tests := []struct {
		name                    string
		values                  map[string]any
		webhook, metrics, probe int32
		hostNetwork             bool
	}{
		{"default", nil, 9443, 8080, 8081, false},
		{"GKE private cluster", map[string]any{"ports": map[string]any{"webhook": 10250}}, 10250, 8080, 8081, false},
		{"host network", map[string]any{
			"hostNetwork": true,
			"ports":       map[string]any{"webhook": 19443, "metrics": 19080, "probes": 19081},
		}, 19443, 19080, 19081, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := map[string]any{"monitoring": map[string]any{"serviceMonitor": map[string]any{"enabled": true}}}
			for k, v := range tt.values {
				values[k] = v
			}
			d := deployment(t, helm, values)
			spec := d.Spec.Template.Spec
			c := spec.Containers[0]
			flags := flagsOf(t, d)
			for flag, want := range map[string]string{
				"port":         itoa(tt.webhook),
				"metrics-addr": ":" + itoa(tt.metrics),
				"probe-addr":   ":" + itoa(tt.probe),
			} {
				if flags[flag] != want {
					t.Errorf("--%s=%s, want %s", flag, flags[flag], want)
				}
			}
			for name, want := range map[string]int32{"https": tt.webhook, "http-metrics": tt.metrics, "http-probes": tt.probe} {
				if got := containerPort(t, c, name); got != want {
					t.Errorf("container port %s = %d, want %d", name, got, want)
				}
			}
			for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
				if got := resolve(t, c, p.HTTPGet.Port); got != tt.probe {
					t.Errorf("probe %s on port %d, want %d", p.HTTPGet.Path, got, tt.probe)
				}
			}
			services := map[string]*corev1.Service{}
			for _, o := range byKind(t, helm, values, "Service") {
				var svc corev1.Service
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &svc); err != nil {
					t.Fatal(err)
				}
				services[svc.Name] = &svc
			}
			if svc := services[ReleaseName]; svc == nil || len(svc.Spec.Ports) != 1 {
				t.Fatalf("webhook Service %+v, want one port", svc)
			} else {
				if svc.Spec.Ports[0].Port != 443 {
					t.Errorf("webhook Service port %d, want 443 (the webhook configuration calls 443)", svc.Spec.Ports[0].Port)
				}
				if got := resolve(t, c, svc.Spec.Ports[0].TargetPort); got != tt.webhook {
					t.Errorf("webhook Service targets %d, want %d", got, tt.webhook)
				}
			}
			if svc := services[ReleaseName+"-metrics"]; svc == nil || len(svc.Spec.Ports) != 1 {
				t.Fatalf("metrics Service %+v, want one port", svc)
			} else if got := resolve(t, c, svc.Spec.Ports[0].TargetPort); got != tt.metrics {
				t.Errorf("metrics Service targets %d, want %d", got, tt.metrics)
			}
			// the NetworkPolicy names the ports, so it follows them
			np := networkPolicy(t, helm, values)
			var policyPorts []int32
			for _, rule := range np.Spec.Ingress {
				for _, p := range rule.Ports {
					policyPorts = append(policyPorts, resolve(t, c, *p.Port))
				}
			}
			if diff := cmp.Diff([]int32{tt.webhook, tt.metrics}, policyPorts); diff != "" {
				t.Errorf("NetworkPolicy ports (-want +got):\n%s", diff)
			}
			if spec.HostNetwork != tt.hostNetwork {
				t.Errorf("hostNetwork %v, want %v", spec.HostNetwork, tt.hostNetwork)
			}
			wantDNS := corev1.DNSPolicy("")
			if tt.hostNetwork {
				// the cluster's DNS, not the node's resolv.conf
				wantDNS = corev1.DNSClusterFirstWithHostNet
			}
			if spec.DNSPolicy != wantDNS {
				t.Errorf("dnsPolicy %q, want %q", spec.DNSPolicy, wantDNS)
			}
		})
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// TestSecurityContext: by default the webhook runs as the image's uid
// 65532 with nothing it does not need; on OpenShift the fixed ids can be
// dropped (null) so that the SCC assigns the namespace's, and the rest
// stays.
func TestSecurityContext(t *testing.T) {
	helm := helmBinary(t)
	restricted := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		ReadOnlyRootFilesystem:   ptr(true),
		RunAsNonRoot:             ptr(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	runtimeDefault := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	tests := []struct {
		name      string
		values    map[string]any
		pod       *corev1.PodSecurityContext
		container *corev1.SecurityContext
	}{
		{"default", nil, &corev1.PodSecurityContext{
			RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(65532)), RunAsGroup: ptr(int64(65532)), FSGroup: ptr(int64(65532)),
			SeccompProfile: runtimeDefault,
		}, restricted},
		{"OpenShift: no fixed ids", renderCaseNamed(t, "openshift").values, &corev1.PodSecurityContext{
			RunAsNonRoot: ptr(true), SeccompProfile: runtimeDefault,
		}, restricted},
		{"another uid and a supplemental group", map[string]any{"podSecurityContext": map[string]any{
			"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000, "supplementalGroups": []any{2000},
		}}, &corev1.PodSecurityContext{
			RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(1000)), RunAsGroup: ptr(int64(1000)), FSGroup: ptr(int64(1000)),
			SupplementalGroups: []int64{2000}, SeccompProfile: runtimeDefault,
		}, restricted},
		{"container uid", map[string]any{"securityContext": map[string]any{"runAsUser": 1001}}, nil, func() *corev1.SecurityContext {
			sc := restricted.DeepCopy()
			sc.RunAsUser = ptr(int64(1001))
			return sc
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deployment(t, helm, tt.values)
			if tt.pod != nil {
				if diff := cmp.Diff(tt.pod, d.Spec.Template.Spec.SecurityContext); diff != "" {
					t.Errorf("pod securityContext (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.container, d.Spec.Template.Spec.Containers[0].SecurityContext); diff != "" {
				t.Errorf("container securityContext (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExtras: extraArgs come after the chart's flags (so the last, the
// operator's, wins), extraEnv after GOMEMLIMIT, and extraVolumes and
// extraVolumeMounts beside the certificate's.
func TestExtras(t *testing.T) {
	helm := helmBinary(t)
	d := deployment(t, helm, renderCaseNamed(t, "extras").values)
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	if got := c.Args[len(c.Args)-1]; got != "--aws-endpoint=https://secretsmanager.vpce.internal" {
		t.Errorf("last arg %q, want the extraArgs entry", got)
	}
	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name)
	}
	if diff := cmp.Diff([]string{"GOMEMLIMIT", "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE"}, env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	var volumes, mounts []string
	for _, v := range spec.Volumes {
		volumes = append(volumes, v.Name)
	}
	for _, m := range c.VolumeMounts {
		mounts = append(mounts, m.Name+":"+m.MountPath)
	}
	if diff := cmp.Diff([]string{"tls", "private-ca"}, volumes); diff != "" {
		t.Errorf("volumes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"tls:/tls", "private-ca:/etc/private-ca"}, mounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
}

// TestLabels: commonLabels reach every object and the webhook pods but no
// selector (selectors are immutable, and a label added later would orphan
// the old pods); podLabels and podAnnotations reach the pods only; where
// two maps set one key the more specific wins, and the chart's own keys
// cannot be overridden.
func TestLabels(t *testing.T) {
	helm := helmBinary(t)
	values := renderCaseNamed(t, "extras").values
	objs, err := Render(helm, values, testNamespace)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) < 10 {
		t.Fatalf("only %d objects: the case should enable monitoring", len(objs))
	}
	for _, o := range objs {
		labels := o.GetLabels()
		if labels["team"] != "platform" || labels["cost-center"] != "trading" {
			t.Errorf("%s %s: labels %v lack commonLabels", o.GetKind(), o.GetName(), labels)
		}
		if labels["app.kubernetes.io/name"] != "secret-injector" {
			t.Errorf("%s %s: app.kubernetes.io/name %q", o.GetKind(), o.GetName(), labels["app.kubernetes.io/name"])
		}
		switch o.GetKind() {
		case "ServiceMonitor", "PodMonitor", "PrometheusRule":
			// monitoring labels win over commonLabels
			if labels["release"] != "kube-prometheus-stack" {
				t.Errorf("%s: release %q, want the monitoring label", o.GetKind(), labels["release"])
			}
		}
		for _, path := range [][]string{{"spec", "selector", "matchLabels"}, {"spec", "podSelector", "matchLabels"}} {
			sel, _, _ := unstructured.NestedStringMap(o.Object, path...)
			if _, ok := sel["team"]; ok {
				t.Errorf("%s %s: %s holds a commonLabel: %v", o.GetKind(), o.GetName(), strings.Join(path, "."), sel)
			}
		}
	}

	d := deployment(t, helm, values)
	pod := d.Spec.Template.Labels
	for k, want := range map[string]string{
		"team":                        "platform",
		"cost-center":                 "webhook", // podLabels win over commonLabels
		"sidecar.istio.io/inject":     "false",
		"app.kubernetes.io/component": "webhook",
	} {
		if pod[k] != want {
			t.Errorf("pod label %s=%q, want %q", k, pod[k], want)
		}
	}
	if got := d.Spec.Template.Annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"]; got != "true" {
		t.Errorf("podAnnotations not applied: %v", d.Spec.Template.Annotations)
	}
	if diff := cmp.Diff(map[string]string{
		"app.kubernetes.io/name":      "secret-injector",
		"app.kubernetes.io/instance":  ReleaseName,
		"app.kubernetes.io/component": "webhook",
	}, d.Spec.Selector.MatchLabels); diff != "" {
		t.Errorf("selector (-want +got):\n%s", diff)
	}

	for _, tt := range []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{"commonLabels": map[string]any{"app.kubernetes.io/name": "x"}}, "at '/commonLabels/app.kubernetes.io~1name'"},
		{map[string]any{"commonLabels": map[string]any{"helm.sh/chart": "x"}}, "at '/commonLabels/helm.sh~1chart'"},
		{map[string]any{"podLabels": map[string]any{"app.kubernetes.io/instance": "x"}}, "at '/podLabels/app.kubernetes.io~1instance'"},
	} {
		if _, err := Template(helm, tt.values, testNamespace); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want a schema error %s", tt.values, err, tt.want)
		}
	}
}

// TestImage: a digest pins the webhook and, unless it has its own, the
// agent; the agent's own digest or tag wins over the webhook's.
func TestImage(t *testing.T) {
	helm := helmBinary(t)
	const repo = "ghcr.io/tradepulse/secret-injector"
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const other = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	tests := []struct {
		name          string
		image, agent  map[string]any
		webhook, want string
	}{
		{"appVersion", nil, nil, repo + ":v0.1.0", repo + ":v0.1.0"},
		{"tag", map[string]any{"tag": "v2"}, nil, repo + ":v2", repo + ":v2"},
		{"digest wins over tag", map[string]any{"tag": "v2", "digest": digest}, nil, repo + "@" + digest, repo + "@" + digest},
		{"agent tag wins over the webhook's digest", map[string]any{"digest": digest}, map[string]any{"tag": "v3"}, repo + "@" + digest, repo + ":v3"},
		{"agent digest", map[string]any{"tag": "v2"}, map[string]any{"tag": "v3", "digest": other}, repo + ":v2", repo + "@" + other},
		{"agent mirror keeps the digest", map[string]any{"digest": digest}, map[string]any{"repository": "mirror.internal/si"}, repo + "@" + digest, "mirror.internal/si@" + digest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := map[string]any{}
			if tt.image != nil {
				values["image"] = tt.image
			}
			if tt.agent != nil {
				values["defaults"] = map[string]any{"agent": map[string]any{"image": tt.agent}}
			}
			d := deployment(t, helm, values)
			if got := d.Spec.Template.Spec.Containers[0].Image; got != tt.webhook {
				t.Errorf("webhook image %s, want %s", got, tt.webhook)
			}
			if got := flagsOf(t, d)["agent-image"]; got != tt.want {
				t.Errorf("--agent-image=%s, want %s", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"sha256:abc", "v1.2.3", "sha512:" + strings.Repeat("a", 128)} {
		if _, err := Template(helm, map[string]any{"image": map[string]any{"digest": bad}}, testNamespace); err == nil || !strings.Contains(err.Error(), "at '/image/digest'") {
			t.Errorf("digest %q: err %v, want a schema error", bad, err)
		}
	}
}

// TestDeploymentOptions: the scheduling and rollout values reach the
// Deployment as given, and an empty one leaves the chart's default.
func TestDeploymentOptions(t *testing.T) {
	helm := helmBinary(t)
	def := deployment(t, helm, nil)
	if got := *def.Spec.RevisionHistoryLimit; got != 5 {
		t.Errorf("default revisionHistoryLimit %d, want 5", got)
	}
	if diff := cmp.Diff(appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
		MaxSurge: ptr(intstr.FromInt32(1)), MaxUnavailable: ptr(intstr.FromInt32(0)),
	}}, def.Spec.Strategy); diff != "" {
		t.Errorf("default strategy (-want +got):\n%s", diff)
	}
	if def.Spec.Template.Spec.PriorityClassName != "" {
		t.Errorf("default priorityClassName %q", def.Spec.Template.Spec.PriorityClassName)
	}
	if tsc := def.Spec.Template.Spec.TopologySpreadConstraints; len(tsc) != 1 || tsc[0].TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("default topology spread %+v, want one across nodes", tsc)
	}
	c := def.Spec.Template.Spec.Containers[0]
	if c.StartupProbe.FailureThreshold*c.StartupProbe.PeriodSeconds < 60 {
		t.Errorf("startup probe gives up after %ds; a first start may create the CA", c.StartupProbe.FailureThreshold*c.StartupProbe.PeriodSeconds)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.StartupProbe.HTTPGet.Path != "/healthz" {
		t.Error("probe paths are not /healthz (startup, liveness) and /readyz (readiness)")
	}

	d := deployment(t, helm, renderCaseNamed(t, "extras").values)
	spec := d.Spec.Template.Spec
	if got := *d.Spec.RevisionHistoryLimit; got != 2 {
		t.Errorf("revisionHistoryLimit %d, want 2", got)
	}
	if spec.PriorityClassName != "system-cluster-critical" {
		t.Errorf("priorityClassName %q", spec.PriorityClassName)
	}
	if len(spec.TopologySpreadConstraints) != 1 || spec.TopologySpreadConstraints[0].TopologyKey != "topology.kubernetes.io/zone" ||
		spec.TopologySpreadConstraints[0].WhenUnsatisfiable != corev1.DoNotSchedule {
		t.Errorf("topologySpreadConstraints %+v, want the zone spread of the values alone", spec.TopologySpreadConstraints)
	}
	c = spec.Containers[0]
	if diff := cmp.Diff(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http-probes")}}, c.ReadinessProbe.ProbeHandler); diff != "" {
		t.Errorf("readiness handler (-want +got):\n%s", diff)
	}
	if got := [...]int32{c.ReadinessProbe.PeriodSeconds, c.ReadinessProbe.SuccessThreshold, c.LivenessProbe.InitialDelaySeconds, c.LivenessProbe.TimeoutSeconds, c.StartupProbe.FailureThreshold}; got != [...]int32{3, 2, 5, 4, 60} {
		t.Errorf("probe timings %v, want the values'", got)
	}
	if got := flagsOf(t, d)["log-format"]; got != "text" {
		t.Errorf("--log-format=%s, want text", got)
	}
	if got := flagsOf(t, d)["log-level"]; got != "debug" {
		t.Errorf("--log-level=%s, want debug", got)
	}

	recreate := deployment(t, helm, map[string]any{"updateStrategy": map[string]any{"type": "Recreate"}})
	if diff := cmp.Diff(appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, recreate.Spec.Strategy); diff != "" {
		t.Errorf("Recreate strategy (-want +got):\n%s", diff)
	}
	host := deployment(t, helm, renderCaseNamed(t, "host-network").values)
	if ru := host.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxSurge.IntValue() != 0 || ru.MaxUnavailable.IntValue() != 1 {
		t.Errorf("host-network case strategy %+v, want maxSurge 0, maxUnavailable 1", host.Spec.Strategy)
	}

	for _, tt := range []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{"log": map[string]any{"format": "logfmt"}}, "at '/log/format'"},
		{map[string]any{"log": map[string]any{"level": "verbose"}}, "at '/log/level'"},
		{map[string]any{"ports": map[string]any{"webhook": 70000}}, "at '/ports/webhook'"},
		{map[string]any{"hostNetwork": "yes"}, "at '/hostNetwork'"},
		{map[string]any{"updateStrategy": map[string]any{"type": "OnDelete"}}, "at '/updateStrategy/type'"},
		{map[string]any{"probes": map[string]any{"liveness": map[string]any{"path": "/"}}}, "at '/probes/liveness'"},
		{map[string]any{"probes": map[string]any{"liveness": map[string]any{"successThreshold": 2}}}, "at '/probes/liveness'"},
		{map[string]any{"podSecurityContext": map[string]any{"runAsUsr": 1}}, "at '/podSecurityContext'"},
		{map[string]any{"securityContext": map[string]any{"capabilities": map[string]any{"drop": "ALL"}}}, "at '/securityContext/capabilities/drop'"},
		{map[string]any{"extraEnv": []any{map[string]any{"value": "x"}}}, "at '/extraEnv/0'"},
		{map[string]any{"extraVolumes": []any{map[string]any{"name": "x", "configmap": map[string]any{"name": "y"}}}}, "at '/extraVolumes/0'"},
		{map[string]any{"extraVolumeMounts": []any{map[string]any{"name": "x"}}}, "at '/extraVolumeMounts/0'"},
		{map[string]any{"revisionHistoryLimit": -1}, "at '/revisionHistoryLimit'"},
	} {
		if _, err := Template(helm, tt.values, testNamespace); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want a schema error %s", tt.values, err, tt.want)
		}
	}
}

// TestScrapeSettings: scrapeTimeout, relabelings and metricRelabelings
// reach both monitors, and the PodMonitor's own keep rules stay first, so
// an added rule cannot widen what it scrapes.
func TestScrapeSettings(t *testing.T) {
	helm := helmBinary(t)
	values := renderCaseNamed(t, "extras").values
	for _, kind := range []string{"ServiceMonitor", "PodMonitor"} {
		objs := byKind(t, helm, values, kind)
		if len(objs) != 1 {
			t.Fatalf("%d %ss, want 1", len(objs), kind)
		}
		field := "endpoints"
		if kind == "PodMonitor" {
			field = "podMetricsEndpoints"
		}
		eps, _, _ := unstructured.NestedSlice(objs[0].Object, "spec", field)
		if len(eps) != 1 {
			t.Fatalf("%s: %d endpoints, want 1", kind, len(eps))
		}
		ep := eps[0].(map[string]any)
		if ep["scrapeTimeout"] != "20s" {
			t.Errorf("%s: scrapeTimeout %v, want 20s", kind, ep["scrapeTimeout"])
		}
		var actions []string
		rls, _, _ := unstructured.NestedSlice(ep, "relabelings")
		for _, r := range rls {
			actions = append(actions, r.(map[string]any)["action"].(string)+":"+stringOr(r.(map[string]any)["targetLabel"]))
		}
		want := []string{"replace:cluster"}
		if kind == "PodMonitor" {
			want = []string{"keep:", "keep:", "replace:cluster"}
		}
		if diff := cmp.Diff(want, actions); diff != "" {
			t.Errorf("%s relabelings (-want +got):\n%s", kind, diff)
		}
		mrls, _, _ := unstructured.NestedSlice(ep, "metricRelabelings")
		if len(mrls) != 1 || mrls[0].(map[string]any)["action"] != "drop" {
			t.Errorf("%s metricRelabelings %v, want the values' drop", kind, mrls)
		}
	}
	defaults := byKind(t, helm, renderCaseNamed(t, "monitoring").values, "ServiceMonitor")
	eps, _, _ := unstructured.NestedSlice(defaults[0].Object, "spec", "endpoints")
	for _, k := range []string{"scrapeTimeout", "relabelings", "metricRelabelings"} {
		if _, ok := eps[0].(map[string]any)[k]; ok {
			t.Errorf("ServiceMonitor has %s by default; Prometheus' default should apply", k)
		}
	}
	if _, err := Template(helm, map[string]any{"monitoring": map[string]any{"podMonitor": map[string]any{
		"relabelings": []any{map[string]any{"action": "rewrite"}}}}}, testNamespace); err == nil ||
		!strings.Contains(err.Error(), "at '/monitoring/podMonitor/relabelings/0/action'") {
		t.Errorf("unknown relabel action: err %v, want a schema error", err)
	}
}

func stringOr(v any) string {
	s, _ := v.(string)
	return s
}

// TestBooleansIncludeNew keeps the new switches in TestBooleansFromTheCommandLine.
func TestBooleansIncludeNew(t *testing.T) {
	if !slices.Contains(booleanValues(t), "hostNetwork") {
		t.Error("hostNetwork is not a boolean in the schema")
	}
}
