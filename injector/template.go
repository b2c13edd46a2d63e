package injector

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	tparse "text/template/parse"

	"github.com/tradepulse/secret-injector/agent/render"
)

// TemplateFuncs are the functions a template-<name> annotation may call:
// the agent's renderer's own map (render.TemplateFuncs: sprig's hermetic
// set less what reads the clock or draws randomness, and the project's
// b64enc, b64dec, trim, upper, lower, json), so that what the webhook
// admits is what the agent runs. The injector only parses templates
// (text/template checks names at parse time), so it never calls them.
var TemplateFuncs = render.TemplateFuncs()

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
	if t.Tree != nil {
		if r := dataFieldProblem(t.Tree.Root, true); r != "" {
			return r
		}
	}
	return ""
}

// Data is what the agent's renderer (agent/render) gives a template: the
// secret parsed as a JSON object (.Data), its text (.Raw) and the backend's
// version (.Version). Nothing else exists at the top level.
const (
	fieldData    = "Data"
	fieldRaw     = "Raw"
	fieldVersion = "Version"
)

// dataFieldProblem finds a field read from the top-level data that the
// agent does not provide ("{{ .username }}" parses, and the webhook used to
// admit it, but every render fails). root says whether the dot is the
// top-level data here: with and range rebind it in their bodies (not in
// their else branches), and $ always is. Templates made with define get
// whatever dot their caller passes, so only the main template is walked.
func dataFieldProblem(n tparse.Node, root bool) string {
	switch n := n.(type) {
	case *tparse.ListNode:
		if n != nil {
			return firstDataFieldProblem(n.Nodes, root)
		}
	case *tparse.ActionNode:
		return dataFieldProblem(n.Pipe, root)
	case *tparse.PipeNode:
		if n != nil {
			return firstDataFieldProblem(n.Cmds, root)
		}
	case *tparse.CommandNode:
		return firstDataFieldProblem(n.Args, root)
	case *tparse.ChainNode:
		// (pipeline).field: the fields apply to the pipeline's result.
		return dataFieldProblem(n.Node, root)
	case *tparse.FieldNode:
		if root {
			return fieldProblem(n.Ident)
		}
	case *tparse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			return fieldProblem(n.Ident[1:])
		}
	case *tparse.IfNode:
		return firstOf(dataFieldProblem(n.Pipe, root), dataFieldProblem(n.List, root), dataFieldProblem(n.ElseList, root))
	case *tparse.WithNode:
		return firstOf(dataFieldProblem(n.Pipe, root), dataFieldProblem(n.List, false), dataFieldProblem(n.ElseList, root))
	case *tparse.RangeNode:
		return firstOf(dataFieldProblem(n.Pipe, root), dataFieldProblem(n.List, false), dataFieldProblem(n.ElseList, root))
	case *tparse.TemplateNode:
		return dataFieldProblem(n.Pipe, root)
	}
	return ""
}

// firstDataFieldProblem is dataFieldProblem of the first of nodes that
// has one.
func firstDataFieldProblem[N tparse.Node](nodes []N, root bool) string {
	for _, c := range nodes {
		if r := dataFieldProblem(c, root); r != "" {
			return r
		}
	}
	return ""
}

// fieldProblem checks a chain of fields read from the top-level data.
func fieldProblem(idents []string) string {
	path := "." + strings.Join(idents, ".")
	show := templateName.MatchString(path)
	switch idents[0] {
	case fieldData:
		return ""
	case fieldRaw, fieldVersion:
		if len(idents) == 1 {
			return ""
		}
		what := "text"
		if idents[0] == fieldRaw {
			what = "the secret's text"
		}
		if !show {
			path = "a field of ." + idents[0]
		}
		return fmt.Sprintf("the Go template reads %s, but .%s is %s and has no fields", path, idents[0], what)
	}
	if !show {
		return "the Go template reads a field other than .Data, .Raw and .Version; a template's data has only .Data (the secret's JSON fields: write .Data.<field>), .Raw (its text) and .Version"
	}
	return fmt.Sprintf("the Go template reads %s, but a template's data has only .Data (the secret's JSON fields: write .Data%s), .Raw (its text) and .Version", path, path)
}

func firstOf(reasons ...string) string {
	for _, r := range reasons {
		if r != "" {
			return r
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
