package injector

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	tparse "text/template/parse"
)

// TemplateFuncs are the functions a template-<name> annotation may call.
// Their names must match what the agent's renderer provides; the injector
// only parses templates (text/template checks names at parse time and
// argument types at execution), so these bodies are never run.
var TemplateFuncs = template.FuncMap{
	"b64enc": func(string) string { return "" },
	"b64dec": func(string) (string, error) { return "", nil },
	"trim":   func(string) string { return "" },
	"upper":  func(string) string { return "" },
	"lower":  func(string) string { return "" },
	"json":   func(any) (string, error) { return "", nil },
}

// templateProblem parses a template so that a broken one is denied at
// admission, not discovered by a crash-looping agent. The message keeps
// text/template's line and reason (which may name one token) but never the
// template body.
func templateProblem(key, body string) string {
	t, err := template.New(key).Funcs(TemplateFuncs).Parse(body)
	if err != nil {
		// text/template says "template: <name>:<line>: <reason>"; the name
		// repeats the key, which the caller names already.
		msg := strings.TrimPrefix(err.Error(), "template: "+key+":")
		msg = quotedInError.ReplaceAllStringFunc(msg, redactToken)
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return "the Go template does not parse: line " + msg
	}
	for _, sub := range t.Templates() {
		if sub.Tree == nil {
			continue
		}
		if name := undefinedTemplate(t, sub.Tree.Root); name != "" {
			return fmt.Sprintf("the Go template calls template %s, which it does not define", quote(name))
		}
	}
	return ""
}

// quotedInError matches the quoted tokens text/template puts in its errors.
var quotedInError = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// templateName is what a quoted token may look like to be shown: a function,
// field or variable name. Anything else (a string literal, say) is hidden.
var templateName = regexp.MustCompile(`^[A-Za-z_$.][A-Za-z0-9_.$]{0,31}$`)

func redactToken(quoted string) string {
	if tok, err := strconv.Unquote(quoted); err == nil && templateName.MatchString(tok) {
		return quoted
	}
	return `"…"`
}

// undefinedTemplate finds a {{template "x"}} call whose "x" t lacks: it
// parses, but would fail every render.
func undefinedTemplate(t *template.Template, n tparse.Node) string {
	switch n := n.(type) {
	case *tparse.ListNode:
		if n == nil {
			return ""
		}
		for _, c := range n.Nodes {
			if name := undefinedTemplate(t, c); name != "" {
				return name
			}
		}
	case *tparse.TemplateNode:
		if t.Lookup(n.Name) == nil {
			return n.Name
		}
	case *tparse.IfNode:
		return branch(t, &n.BranchNode)
	case *tparse.RangeNode:
		return branch(t, &n.BranchNode)
	case *tparse.WithNode:
		return branch(t, &n.BranchNode)
	}
	return ""
}

func branch(t *template.Template, b *tparse.BranchNode) string {
	if name := undefinedTemplate(t, b.List); name != "" {
		return name
	}
	return undefinedTemplate(t, b.ElseList)
}
