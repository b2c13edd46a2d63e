package injector

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"
	tparse "text/template/parse"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/agent/render"
)

// The documents whose examples users copy: this reference, the README,
// the chart's README and every page of docs/ (issue #16 moved the README's
// reference sections there).
var exampleDocs = func() []string {
	pages, _ := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	return append([]string{"ANNOTATIONS.md", filepath.Join("..", "README.md"),
		filepath.Join("..", "charts", "secret-injector", "README.md")}, pages...)
}()

// TestDocumentedExamples: every annotated pod and every example value in
// the docs is admitted by the injector, and the agent config it makes
// renders with the agent's own renderer (agent/render) against sample data,
// so no documented example fails at runtime (issue #13: the documented
// `{{ .username }}` was admitted but cannot render). The injected goldens are
// rendered too. examples/ holds agent configs: each must parse and render
// the same way.
func TestDocumentedExamples(t *testing.T) {
	opts := testOptions()
	opts.Vault.Role = "trading-engine"
	n := 0
	for _, doc := range exampleDocs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, block := range yamlBlocks(string(text)) {
			ann := blockAnnotations(t, block)
			if ann == nil {
				continue
			}
			n++
			t.Run(doc+"/yaml-"+string(rune('a'+i)), func(t *testing.T) {
				admitAndRender(t, examplePod(ann), opts)
			})
		}
		for i, ann := range patchAnnotations(t, string(text)) {
			n++
			t.Run(doc+"/patch-"+string(rune('a'+i)), func(t *testing.T) {
				admitAndRender(t, examplePod(ann), opts)
			})
		}
		for _, ex := range tableExamples(string(text)) {
			n++
			t.Run(doc+"/"+ex.key+"="+ex.value, func(t *testing.T) {
				admitAndRender(t, examplePod(ex.annotations()), opts)
			})
		}
	}
	if n < 20 {
		t.Fatalf("found only %d examples; has the docs' layout changed?", n)
	}

	goldens, err := filepath.Glob(filepath.Join("testdata", "*.golden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		pod := readPod(t, g)
		if pod.Annotations[AnnotationStatus] != StatusInjected {
			continue
		}
		t.Run(g, func(t *testing.T) {
			admitAndRender(t, pod, caseOptions(t, strings.TrimSuffix(filepath.Base(g), ".golden.yaml")))
		})
	}

	configs, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil || len(configs) == 0 {
		t.Fatalf("no examples/*.yaml: %v", err)
	}
	for _, f := range configs {
		t.Run(f, func(t *testing.T) {
			y, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			j, err := yaml.YAMLToJSON(y)
			if err != nil {
				t.Fatal(err)
			}
			c, err := config.Parse(j, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range c.Secrets {
				if s.Template != "" {
					if r := templateProblem("template", s.Template); r != "" {
						t.Errorf("secret %s: %s", s.Name, r)
					}
				}
				renderSample(t, s)
			}
		})
	}
}

// admitAndRender injects pod and renders every secret of the agent config
// it carries.
func admitAndRender(t *testing.T, pod *corev1.Pod, opts Options) {
	t.Helper()
	if _, err := Inject(pod, opts); err != nil {
		t.Fatalf("denied:\n%v", err)
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if c.Name != InitContainerName && c.Name != SidecarName {
			continue
		}
		for _, e := range c.Env {
			if e.Name != config.EnvVar {
				continue
			}
			cfg, err := config.Parse([]byte(e.Value), func(string) string { return "" })
			if err != nil {
				t.Fatalf("agent config: %v", err)
			}
			for _, s := range cfg.Secrets {
				renderSample(t, s)
			}
			return
		}
	}
	t.Fatal("no agent container with a config")
}

// renderSample renders s over a JSON object that has every field the
// secret names (fields, or .Data.<key> in its template), each holding
// base64 text, so that b64dec works too.
func renderSample(t *testing.T, s config.Secret) {
	t.Helper()
	data := []byte("c2FtcGxl")
	if s.Format != config.FormatRaw {
		obj := map[string]string{"value": "c2FtcGxl"}
		for f := range s.Fields {
			obj[f] = "c2FtcGxl"
		}
		for _, k := range templateDataKeys(t, s.Template) {
			obj[k] = "c2FtcGxl"
		}
		var err error
		if data, err = json.Marshal(obj); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := render.Render(s, data, "1"); err != nil {
		t.Errorf("secret %s does not render: %v", s.Name, err)
	}
}

// templateDataKeys lists the keys a template reads as .Data.<key>.
func templateDataKeys(t *testing.T, body string) []string {
	t.Helper()
	if body == "" {
		return nil
	}
	tm, err := template.New("t").Funcs(TemplateFuncs).Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(n tparse.Node)
	walk = func(n tparse.Node) {
		switch n := n.(type) {
		case *tparse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *tparse.ActionNode:
			walk(n.Pipe)
		case *tparse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *tparse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *tparse.FieldNode:
			if len(n.Ident) > 1 && n.Ident[0] == fieldData {
				keys = append(keys, n.Ident[1])
			}
		case *tparse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(tm.Tree.Root)
	return keys
}

// examplePod is a pod the documented annotations fit: the containers and
// the env volume the examples name.
func examplePod(ann map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "example", Namespace: "trading", Annotations: ann},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](10001), RunAsGroup: ptr.To[int64](10001)},
			InitContainers:  []corev1.Container{{Name: "migrate", Image: "m"}},
			// Commands stated, as env mode needs.
			Containers: []corev1.Container{{Name: "engine", Image: "e", Command: []string{"/engine"}}, {Name: "app", Image: "a", Command: []string{"/app"}}},
			Volumes: []corev1.Volume{{Name: EnvVolumeName, VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "env"}}}}},
		},
	}
}

var yamlBlockRE = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// yamlBlocks returns the ```yaml blocks of a markdown document.
func yamlBlocks(md string) []string {
	var out []string
	for _, m := range yamlBlockRE.FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	return out
}

// blockAnnotations reads the annotations of a YAML block that is a pod or
// a metadata fragment; nil if it has none of ours.
func blockAnnotations(t *testing.T, block string) map[string]string {
	t.Helper()
	if !strings.Contains(block, Prefix) {
		return nil
	}
	var doc struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
		t.Fatalf("yaml block:\n%s\n%v", block, err)
	}
	return doc.Metadata.Annotations
}

var patchRE = regexp.MustCompile(`(?s)kubectl [^\n]*patch [^\n]*-p '(.*?)'`)

// patchAnnotations reads the pod-template annotations of every
// `kubectl patch … -p '<json>'` of a markdown document (the README's
// "annotate a Deployment" step) that sets any of ours.
func patchAnnotations(t *testing.T, md string) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, m := range patchRE.FindAllStringSubmatch(md, -1) {
		if !strings.Contains(m[1], Prefix) {
			continue
		}
		var patch struct {
			Spec struct {
				Template struct {
					Metadata struct {
						Annotations map[string]string `json:"annotations"`
					} `json:"metadata"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := json.Unmarshal([]byte(m[1]), &patch); err != nil {
			t.Fatalf("kubectl patch:\n%s\n%v", m[1], err)
		}
		out = append(out, patch.Spec.Template.Metadata.Annotations)
	}
	return out
}

// tableExample is one value from an "example" column of ANNOTATIONS.md.
type tableExample struct {
	key   string // e.g. "reload" or "template-<name>"
	value string
}

// annotations is the smallest opted-in pod's annotations that use the
// example: it names secret "x", and adds what the key needs to mean
// something (its backend, its format).
func (e tableExample) annotations() map[string]string {
	ann := map[string]string{AnnotationInject: "true", AnnotationSecretPrefix + "x": "tradepulse/x"}
	key := strings.ReplaceAll(e.key, "<name>", "x")
	ann[Prefix+key] = e.value
	switch {
	case strings.HasPrefix(key, "vault-"):
		ann[AnnotationBackend] = config.BackendVault
	case key == "aws-region" || key == "aws-role-arn":
		ann[AnnotationBackend] = config.BackendAWS
	case strings.HasPrefix(key, "cert-"):
		ann[AnnotationBackend] = config.BackendVault
		ann[AnnotationSecretPrefix+"x"] = "pki/issue/web"
	case key == "template-x":
		ann[AnnotationFormatPrefix+"x"] = config.FormatTemplate
	case key == "fields-x":
		ann[AnnotationFormatPrefix+"x"] = config.FormatJSON
	case strings.HasPrefix(key, "env-") && key != "env-mode":
		ann[AnnotationEnvMode] = "true"
	case key == "format-x" && e.value == config.FormatTemplate:
		ann[AnnotationTemplatePrefix+"x"] = "{{ .Raw }}"
	}
	return ann
}

var codeSpanRE = regexp.MustCompile("`([^`]+)`")

// tableExamples reads every example value of the tables whose columns are
// key, default, example and what is denied. A cell is split at unescaped
// pipes; `\|` is a pipe inside a value.
func tableExamples(md string) []tableExample {
	var out []tableExample
	inTable := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| key | default | example |") {
			inTable = true
			continue
		}
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		if !inTable || strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.ReplaceAll(line, `\|`, "\x00"), "|")
		if len(cells) < 5 {
			continue
		}
		key := codeSpanRE.FindStringSubmatch(cells[1])
		if key == nil {
			continue
		}
		for _, m := range codeSpanRE.FindAllStringSubmatch(cells[3], -1) {
			v := strings.ReplaceAll(m[1], "\x00", "|")
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1] // YAML quoting, as in `"0440"`
			}
			out = append(out, tableExample{key: key[1], value: v})
		}
	}
	return out
}
