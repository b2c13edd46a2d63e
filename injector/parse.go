package injector

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tradepulse/secret-injector/agent/config"
)

// Spec is what a pod's annotations ask for, validated: the agent config and
// the pod-level choices that are not part of it.
type Spec struct {
	// Config is the agent's config, normalised and valid. Config.Owner is
	// the owner annotation (the app's uid:gid) as Parse reads it; Inject
	// decides who owns the files (see agentIdentityFor).
	Config *config.Config
	// Mode is one of Modes.
	Mode string
	// Containers are the containers named by the containers annotation;
	// nil means every app container.
	Containers []string
	// Reload is "none", "restart", "signal" or "http".
	Reload string
	// Image is the agent image.
	Image string
	// Resources of the agent containers.
	Resources corev1.ResourceRequirements
	// Env is env mode (envmode.go); nil when it is off.
	Env *EnvMode

	// modeSet names the secrets whose file-mode-<name> is set; the others
	// get the default mode Inject picks for the agent's identity.
	modeSet map[string]bool
}

// Parse validates annotations alone into a Spec, without a pod: what the
// webhook can say about a pod's annotations, and what the fuzz tests
// exercise. A nil Spec with a nil error means the pod did not opt in. An
// error joins one *AnnotationError per problem.
func Parse(annotations map[string]string, opts Options) (*Spec, error) {
	opts, err := opts.checked()
	if err != nil {
		return nil, err
	}
	spec, optedIn, probs := parse(annotations, opts)
	if err := probs.err(); err != nil {
		return nil, err
	}
	if !optedIn {
		return nil, nil
	}
	return spec, nil
}

// parser reads one pod's annotations, collecting every problem.
type parser struct {
	ann     map[string]string
	opts    Options
	probs   problems
	modeSet map[string]bool
	// be is the pod's backend, read before its secrets.
	be config.Backend
}

func (p *parser) add(key, format string, args ...any) {
	p.probs.add(key, fmt.Sprintf(format, args...))
}

// parse returns the spec (partial when there are problems), whether the pod
// opted in, and the problems. opts must have its defaults filled.
func parse(ann map[string]string, opts Options) (*Spec, bool, problems) {
	p := &parser{ann: ann, opts: opts}
	v, ok := ann[AnnotationInject]
	if !ok {
		return nil, false, nil
	}
	on, r := parseBool(v)
	if r != "" {
		p.probs.add(AnnotationInject, r)
		return nil, false, p.probs
	}
	if !on {
		return nil, false, nil
	}
	if !p.bounded() {
		return nil, true, p.probs
	}

	decls := p.classify()
	p.status()
	c := &config.Config{
		Version:     config.APIVersion,
		AdminAddr:   config.DefaultAdminAddr,
		MetricsAddr: config.DefaultMetricsAddr,
	}
	spec := &Spec{Config: c}
	c.Backend = p.backend()
	p.be = c.Backend
	spec.Mode = p.mode()
	c.RefreshInterval = p.refreshInterval()
	c.InitTimeout = p.initTimeout()
	c.MountPath = p.mountPath()
	spec.Containers = p.containers()
	spec.Reload, c.Notify = p.reload()
	c.Owner = p.owner()
	spec.Image = p.image()
	spec.Resources = p.resources()
	c.Secrets = p.secrets(decls)
	spec.Env = p.envMode(spec.Mode, decls, c.Secrets)
	spec.modeSet = p.modeSet
	if len(p.probs) > 0 {
		return spec, true, p.probs
	}
	c.Normalize(nil)
	p.validateConfig(c)
	return spec, true, p.probs
}

// bounded checks, in one pass that allocates nothing, that the pod's
// annotations are small enough to read: the API server enforces Kubernetes'
// 256 KiB limit on a pod's annotations only after the mutating webhooks, so
// a pod far over it would otherwise cost a key-by-key reading (issue #13: a
// 3 MB pod with 37,000 of our keys). Past either limit the pod is denied with
// one line, and nothing else is read.
func (p *parser) bounded() bool {
	total, ours := 0, 0
	for k, v := range p.ann {
		total += len(k) + len(v)
		if strings.HasPrefix(k, Prefix) {
			ours++
		}
	}
	if total > apivalidation.TotalAnnotationSizeLimitB {
		p.add(Prefix+"*", "the pod's annotations total %d bytes, over the %d bytes Kubernetes allows (the API server would refuse the pod)", total, apivalidation.TotalAnnotationSizeLimitB)
		return false
	}
	if max := maxOurKeys(p.opts); ours > max {
		p.add(Prefix+"*", "the pod has %d annotations under %s, more than the %d a pod can use with this cluster's %d secrets per pod", ours, Prefix, max, p.opts.MaxSecrets)
		return false
	}
	return true
}

// maxOurKeys is the most keys under our prefix a valid pod can have: every
// pod-level key, and every per-secret key for as many secrets as allowed.
func maxOurKeys(opts Options) int {
	return len(podKeys) + opts.MaxSecrets*len(secretKeyPrefixes)
}

// classify sorts our keys into pod-level keys (read later by name) and
// per-secret keys (returned by secret name, then key prefix), and denies
// every other key under our prefix.
func (p *parser) classify() map[string]map[string]string {
	decls := map[string]map[string]string{}
	unknown := 0
	for _, k := range slices.Sorted(maps.Keys(p.ann)) {
		if !strings.HasPrefix(k, Prefix) {
			continue
		}
		if !utf8.ValidString(p.ann[k]) {
			// The API server only passes UTF-8; a broken value would be
			// changed by JSON encoding on its way to the agent.
			p.add(k, "the value is not valid UTF-8")
		}
		if slices.Contains(podKeys, k) {
			continue
		}
		if !plainKey(k) || len(k)-len(Prefix) > maxKeyNameLength {
			// Kubernetes would refuse the key after admission anyway; say
			// so here, and never echo it raw.
			p.add(k, "is not a valid annotation key (A-Z, a-z, 0-9, '.', '_', '-', at most 63 characters after the prefix)")
			continue
		}
		matched := false
		for _, pre := range secretKeyPrefixes {
			if name, ok := strings.CutPrefix(k, pre); ok {
				if decls[name] == nil {
					decls[name] = map[string]string{}
				}
				decls[name][pre] = p.ann[k]
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		// Keys are visited in order and a denial shows the first
		// maxProblems problems by key, so an unknown key past the first
		// maxProblems unknown ones is never shown: it gets no "did you
		// mean", which costs an edit distance per known key.
		unknown++
		if s := ""; unknown <= maxProblems {
			if s = suggest(k); s != "" {
				p.add(k, "unknown key; did you mean %s?", s)
				continue
			}
		}
		p.add(k, "unknown key; ANNOTATIONS.md lists the keys under %s", Prefix)
	}
	return decls
}

func (p *parser) status() {
	if v, ok := p.ann[AnnotationStatus]; ok && v != StatusInjected {
		p.add(AnnotationStatus, "is written by the injector; remove it (only %q is accepted)", StatusInjected)
	}
}

func (p *parser) mode() string {
	v, ok := p.ann[AnnotationMode]
	if !ok {
		return ModeInitSidecar
	}
	if !slices.Contains(Modes, v) {
		p.add(AnnotationMode, "%s is not one of %s", quote(v), strings.Join(Modes, ", "))
	}
	return v
}

func (p *parser) refreshInterval() config.Duration {
	v, ok := p.ann[AnnotationRefreshInterval]
	if !ok {
		return config.Duration(p.opts.RefreshInterval)
	}
	d, r := parseInterval(v, p.opts.MinRefreshInterval)
	if r != "" {
		p.add(AnnotationRefreshInterval, "%s", r)
	}
	return config.Duration(d)
}

func (p *parser) mountPath() string {
	v, ok := p.ann[AnnotationMountPath]
	if !ok {
		return config.DefaultMountPath
	}
	if r := mountPathProblem(v); r != "" {
		p.add(AnnotationMountPath, "%s", r)
	}
	return v
}

func (p *parser) containers() []string {
	if _, ok := p.ann[AnnotationContainers]; !ok {
		return nil
	}
	return p.containerList(AnnotationContainers)
}

// containerList reads the comma-separated container names of key.
func (p *parser) containerList(key string) []string {
	v := p.ann[key]
	var names []string
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			p.add(key, "has an empty name; write names separated by single commas, e.g. \"app,worker\"")
		case len(validation.IsDNS1123Label(n)) > 0:
			p.add(key, "%s is not a container name (a DNS-1123 label)", quote(n))
		case slices.Contains(names, n):
			p.add(key, "%s is listed twice", quote(n))
		default:
			names = append(names, n)
		}
	}
	return names
}

func (p *parser) owner() *config.Owner {
	v, ok := p.ann[AnnotationOwner]
	if !ok {
		return nil
	}
	o, r := parseOwner(v)
	if r != "" {
		p.add(AnnotationOwner, "%s", r)
	}
	return o
}

func (p *parser) image() string {
	v, ok := p.ann[AnnotationAgentImage]
	if !ok {
		return p.opts.AgentImage
	}
	if r := imageProblem(v); r != "" {
		p.add(AnnotationAgentImage, "%s", r)
		return v
	}
	if !imageAllowed(v, p.opts) {
		p.add(AnnotationAgentImage, "%s is not an image this cluster allows for the agent; allowed: %s", quote(v), allowedImages(p.opts))
	}
	return v
}

func allowedImages(opts Options) string {
	list := []string{opts.AgentImage}
	for _, a := range opts.AllowedImages {
		if strings.HasSuffix(a, "/") || strings.HasSuffix(a, ":") {
			a += "*"
		}
		list = append(list, a)
	}
	return strings.Join(list, ", ")
}

// validateConfig runs the agent's own validation once over the config the
// annotations make, so that the injector never writes a config the agent
// would refuse, and names the annotation each problem came from
// (configKey). The parser's checks above state the same rules in terms of
// annotations; this is the backstop, and the fuzz test holds the two in
// step.
func (p *parser) validateConfig(c *config.Config) {
	for _, fe := range c.Check() {
		key := p.configKey(c, fe.Path)
		who := "it makes"
		if key == Prefix+"*" {
			who = "they make"
		}
		p.add(key, "the agent config %s is invalid: %s", who, fe)
	}
	if enc, err := c.Encode(); err != nil {
		p.add(Prefix+"*", "the agent config does not encode: %s", oneLine(err))
	} else if len(enc) > maxConfigBytes {
		p.add(Prefix+"*", "the agent config they make is %d bytes, over the %d-byte limit of the environment variable that carries it; shorten templates or split the pod's secrets", len(enc), maxConfigBytes)
	}
}

// configFieldKeys are the pod-level fields of the agent config (paths, as
// config.FieldError has them) and the annotations they come from.
var configFieldKeys = []struct{ path, key string }{
	{"backend.type", AnnotationBackend},
	{"mountPath", AnnotationMountPath},
	{"refreshInterval", AnnotationRefreshInterval},
	{"initTimeout", AnnotationInitTimeout},
	{"notify", AnnotationReload},
	{"owner", AnnotationOwner},
	{"secrets", AnnotationInject},
}

// secretFieldKeys are the fields of one secret and the prefixes of the
// per-secret annotations they come from; the first that matches counts.
var secretFieldKeys = []struct{ path, prefix string }{
	{"name", AnnotationSecretPrefix},
	{"ref", AnnotationSecretPrefix},
	{"format", AnnotationFormatPrefix},
	{"template", AnnotationTemplatePrefix},
	{"fields", AnnotationFieldsPrefix},
	{"mode", AnnotationFileModePrefix},
	{"optional", AnnotationOptionalPrefix},
	{"refreshInterval", AnnotationRefreshIntervalPrefix},
	{"certificate.commonName", AnnotationCertCommonNamePrefix},
	{"certificate.altNames", AnnotationCertAltNamesPrefix},
	{"certificate.ipSANs", AnnotationCertIPSANsPrefix},
	{"certificate.ttl", AnnotationCertTTLPrefix},
}

// configKey is the annotation a field of c comes from, by the field's
// path: a secret's own key where the pod sets it, else the pod-level key
// its value came from; Prefix+"*" where no one key does.
func (p *parser) configKey(c *config.Config, path string) string {
	i, field, ok := secretField(path)
	if !ok || i >= len(c.Secrets) {
		for _, f := range configFieldKeys {
			if under(path, f.path) {
				return f.key
			}
		}
		return Prefix + "*"
	}
	name := c.Secrets[i].Name
	for _, f := range secretFieldKeys {
		if k := f.prefix + name; under(field, f.path) && p.isSet(k) {
			return k
		}
	}
	switch {
	case under(field, "refreshInterval"):
		return AnnotationRefreshInterval
	case under(field, "owner"):
		return AnnotationOwner
	case under(field, "certificate"):
		for _, pre := range certKeys {
			if p.isSet(pre + name) {
				return pre + name
			}
		}
	}
	return AnnotationSecretPrefix + name
}

func (p *parser) isSet(key string) bool {
	_, ok := p.ann[key]
	return ok
}

// secretField splits "secrets[<i>].<field>" into i and field.
func secretField(path string) (i int, field string, ok bool) {
	rest, ok := strings.CutPrefix(path, "secrets[")
	if !ok {
		return 0, "", false
	}
	n, field, ok := strings.Cut(rest, "]")
	i, err := strconv.Atoi(n)
	return i, strings.TrimPrefix(field, "."), ok && err == nil
}

// under reports whether path is field or one of its parts ("fields[k]"
// is under "fields", "certificate.ttl" under "certificate").
func under(path, field string) bool {
	rest, ok := strings.CutPrefix(path, field)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
