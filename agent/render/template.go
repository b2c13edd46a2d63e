package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/tradepulse/secret-injector/agent/config"
)

// templateData is what a template sees.
type templateData struct {
	// Raw is the secret's bytes as a string.
	Raw string
	// Data is the secret parsed as a JSON object (numbers kept as written),
	// nil when it is not one.
	Data map[string]any
	// Version is the backend's version of the value.
	Version string
}

// renderTemplate executes s.Template over the secret, within the bounds
// (MaxTemplateOutput, TemplateTimeout, MaxTemplateItems). A missing map
// key is an error, not "<no value>", whether read as .Data.key or with
// index.
func renderTemplate(s config.Secret, data []byte, version string) ([]byte, error) {
	// Parse errors quote the template, which is config, not the secret.
	t, err := template.New(s.Name).Option("missingkey=error").Funcs(baseFuncs).Parse(s.Template)
	if err != nil {
		return nil, fmt.Errorf("the template does not parse: %w", err)
	}
	instrument(t)
	b := newBudget()
	t.Funcs(boundedFuncs(baseFuncs, b))
	var out bytes.Buffer
	if err := t.Execute(limitedWriter{&out, b}, templateData{Raw: string(data), Data: dataObject(data), Version: version}); err != nil {
		return nil, execError(err)
	}
	return out.Bytes(), nil
}

// dataObject parses data for .Data, keeping numbers as written.
func dataObject(data []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]any
	if dec.Decode(&obj) != nil || dec.More() {
		return nil
	}
	if _, err := dec.Token(); err == nil {
		return nil // trailing data after the object
	}
	return obj
}

var (
	// execAt picks the location and the action (template text) out of
	// "template: NAME:LINE:COL: executing "NAME" at <ACTION>: ...".
	execAt = regexp.MustCompile(`^template: [^:]*:(\d+):(\d+): executing "[^"]*" at <(.*?)>: `)
	// safeCauses are text/template's and our functions' messages that hold
	// only names from the template and type names, never the value; the
	// first group is kept.
	safeCauses = []*regexp.Regexp{
		regexp.MustCompile(`(?:map has no entry for key|nil data; no entry for key) ("[^"]*")$`),
		regexp.MustCompile(`(can't evaluate field \w+ in type [\w.{} ]+)$`),
		regexp.MustCompile(`(template "[^"]*" not defined)$`),
		regexp.MustCompile(`(error calling \w+: (?:input is not standard base64|value cannot be written as JSON))$`),
		regexp.MustCompile(`(error calling index: (?:the map has no such key|index out of range|index of a nil value|a list or string is indexed by an integer))$`),
	}
)

// execError rebuilds an execution error from its location in the template
// and, where it is known to be safe, its cause: text/template's messages
// can print values ("range can't iterate over <value>").
func execError(err error) error {
	msg := err.Error()
	var bound error
	switch {
	case errors.Is(err, ErrTemplateTooLarge):
		bound = ErrTemplateTooLarge
	case errors.Is(err, ErrTemplateTimeout):
		bound = ErrTemplateTimeout
	case errors.Is(err, ErrTemplateDepth):
		bound = ErrTemplateDepth
	}
	where := "executing the template failed"
	if m := execAt.FindStringSubmatch(msg); m != nil {
		action := m[3]
		if !strings.HasPrefix(action, "{{") {
			action = "{{" + action + "}}"
		}
		where = fmt.Sprintf("executing the template failed at line %s, column %s, in %s", m[1], m[2], action)
	}
	if bound != nil {
		return fmt.Errorf("%s: %w", where, bound)
	}
	for i, re := range safeCauses {
		if m := re.FindStringSubmatch(msg); m != nil {
			if i == 0 {
				return fmt.Errorf("%s: no key %s in the data", where, m[1])
			}
			return fmt.Errorf("%s: %s", where, m[1])
		}
	}
	return errors.New(where)
}
