package injector

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/agent/render"
)

// docForm is one row of ANNOTATIONS.md's table of template forms.
type docForm struct{ template, data, writes string }

// docTemplateForms reads the table whose header is "| template | over the
// secret | writes |".
func docTemplateForms(t *testing.T, md string) []docForm {
	t.Helper()
	var out []docForm
	in := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| template | over the secret | writes |") {
			in = true
			continue
		}
		if !in || strings.HasPrefix(line, "|---") {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.ReplaceAll(line, `\|`, "\x00"), "|")
		if len(cells) != 5 {
			t.Fatalf("row %q has %d cells", line, len(cells))
		}
		var vals []string
		for _, c := range cells[1:4] {
			m := codeSpanRE.FindStringSubmatch(c)
			if m == nil {
				t.Fatalf("cell %q of row %q is not code", c, line)
			}
			vals = append(vals, strings.ReplaceAll(m[1], "\x00", "|"))
		}
		out = append(out, docForm{vals[0], vals[1], vals[2]})
	}
	return out
}

// TestDocumentedTemplateForms: every form of ANNOTATIONS.md's Templates
// table is admitted in a template-<name> annotation and, rendered by the
// agent over its secret, writes exactly what the table says; every other
// template in the document is one of these forms, a table example that
// TestDocumentedExamples renders, or one of the denials below.
func TestDocumentedTemplateForms(t *testing.T) {
	text, err := os.ReadFile("ANNOTATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	md := string(text)
	forms := docTemplateForms(t, md)
	if len(forms) < 10 {
		t.Fatalf("found %d template forms; has the table moved?", len(forms))
	}
	known := map[string]bool{"{{template}}": true} // the action's name in prose
	for _, f := range forms {
		known[f.template] = true
		t.Run(f.template, func(t *testing.T) {
			ann := validAnnotations()
			ann[AnnotationFormatPrefix+"api-key"] = config.FormatTemplate
			ann[AnnotationTemplatePrefix+"api-key"] = f.template
			spec, err := Parse(ann, testOptions())
			if err != nil {
				t.Fatalf("denied: %v", err)
			}
			files, err := render.Render(spec.Config.Secrets[0], []byte(f.data), "1")
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if got := string(files[0].Data); got != f.writes {
				t.Errorf("writes %q, the doc says %q", got, f.writes)
			}
		})
	}

	// The document's denials, with the reason it gives.
	denied := map[string]string{
		`{{ env "HOME" }}`: `function "env" not defined`,
		`{{ now }}`:        `function "now" not defined`,
	}
	for body, why := range denied {
		known[body] = true
		ann := validAnnotations()
		ann[AnnotationFormatPrefix+"api-key"] = config.FormatTemplate
		ann[AnnotationTemplatePrefix+"api-key"] = body
		if _, err := Parse(ann, testOptions()); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%s: %v, want a denial saying %q", body, err, why)
		}
	}
	for _, ex := range tableExamples(md) {
		known[ex.value] = true
	}
	for _, m := range regexp.MustCompile("`([^`]*\\{\\{[^`]*)`").FindAllStringSubmatch(strings.ReplaceAll(md, `\|`, "|"), -1) {
		if !known[m[1]] {
			t.Errorf("ANNOTATIONS.md shows template %q, which no test renders or denies: add it to the Templates table", m[1])
		}
	}
}
