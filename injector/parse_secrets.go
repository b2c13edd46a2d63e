package injector

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tradepulse/secret-injector/agent/backend/gcp/gcpref"
	"github.com/tradepulse/secret-injector/agent/config"
)

// secrets builds one config.Secret per secret-<name> annotation, sorted by
// name, and denies per-secret keys that no secret-<name> declares.
func (p *parser) secrets(decls map[string]map[string]string) []config.Secret {
	var out []config.Secret
	for _, name := range slices.Sorted(maps.Keys(decls)) {
		vals := decls[name]
		if _, declared := vals[AnnotationSecretPrefix]; !declared {
			for pre := range vals {
				p.add(pre+name, "no %s%s annotation declares secret %s", AnnotationSecretPrefix, name, quote(name))
			}
			continue
		}
		if s, ok := p.secret(name, vals); ok {
			out = append(out, s)
		}
	}
	if n := declared(decls); n > p.opts.MaxSecrets {
		// Each secret is a backend call per refresh interval: the cap is
		// the cluster's, and past it the secrets are not even read.
		p.add(AnnotationSecretPrefix+"*", "the pod declares %d secrets; this cluster allows at most %d per pod", n, p.opts.MaxSecrets)
		return nil
	}
	if len(out) == 0 && len(p.probs) == 0 {
		p.add(AnnotationInject, "is \"true\" but no %s<name> annotation declares a secret", AnnotationSecretPrefix)
	}
	return out
}

// declared counts the secret-<name> keys.
func declared(decls map[string]map[string]string) int {
	n := 0
	for _, vals := range decls {
		if _, ok := vals[AnnotationSecretPrefix]; ok {
			n++
		}
	}
	return n
}

// secret reads the keys of one declared secret.
func (p *parser) secret(name string, vals map[string]string) (config.Secret, bool) {
	before := len(p.probs)
	key := func(pre string) string { return pre + name }
	if err := config.ValidateName(name); err != nil {
		p.add(key(AnnotationSecretPrefix), "the secret's name is its file name under the mount path, and %v", err)
		return config.Secret{}, false
	}
	s := config.Secret{Name: name, Ref: vals[AnnotationSecretPrefix], Format: config.FormatRaw}
	if r := refProblem(s.Ref); r != "" {
		p.add(key(AnnotationSecretPrefix), "%s", r)
	} else if r := p.backendRefProblem(s.Ref); r != "" && utf8.ValidString(s.Ref) {
		p.add(key(AnnotationSecretPrefix), "%s", r)
	}

	cert := isCertificate(vals)
	if cert {
		// A certificate's files: <name>/cert.pem, key.pem, ca.pem.
		s.Format = config.FormatJSON
	}
	if f, ok := vals[AnnotationFormatPrefix]; ok {
		if !slices.Contains(config.Formats, f) {
			p.add(key(AnnotationFormatPrefix), "%s is not one of %s", quote(f), strings.Join(config.Formats, ", "))
		}
		s.Format = f
	}

	tmpl, hasTmpl := vals[AnnotationTemplatePrefix]
	switch {
	case s.Format == config.FormatTemplate && !hasTmpl:
		p.add(key(AnnotationFormatPrefix), "format template needs a %s annotation", key(AnnotationTemplatePrefix))
	case s.Format != config.FormatTemplate && hasTmpl:
		p.add(key(AnnotationTemplatePrefix), "only used with format template; set %s: template", key(AnnotationFormatPrefix))
	case hasTmpl && strings.TrimSpace(tmpl) == "":
		p.add(key(AnnotationTemplatePrefix), "must not be empty")
	case hasTmpl:
		if r := templateProblem(key(AnnotationTemplatePrefix), tmpl); r != "" {
			p.add(key(AnnotationTemplatePrefix), "%s", r)
		}
		s.Template = tmpl
	}

	if v, ok := vals[AnnotationFieldsPrefix]; ok {
		if s.Format != config.FormatJSON && s.Format != config.FormatEnv {
			p.add(key(AnnotationFieldsPrefix), "only used with format json or env; this secret's format is %s", s.Format)
		} else {
			fields, reasons := parseFields(v, s.Format)
			for _, r := range reasons {
				p.add(key(AnnotationFieldsPrefix), "%s", r)
			}
			s.Fields = fields
		}
	}

	if v, ok := vals[AnnotationFileModePrefix]; ok {
		m, r := parseMode(v)
		if r != "" {
			p.add(key(AnnotationFileModePrefix), "%s", r)
		}
		s.Mode = m
		if p.modeSet == nil {
			p.modeSet = map[string]bool{}
		}
		p.modeSet[name] = true
	}
	if v, ok := vals[AnnotationOptionalPrefix]; ok {
		b, r := parseBool(v)
		if r != "" {
			p.add(key(AnnotationOptionalPrefix), "%s", r)
		}
		s.Optional = b
	}
	if v, ok := vals[AnnotationRefreshIntervalPrefix]; ok {
		d, r := parseInterval(v, p.opts.MinRefreshInterval)
		if r != "" {
			p.add(key(AnnotationRefreshIntervalPrefix), "%s", r)
		}
		s.RefreshInterval = config.Duration(d)
	}
	if cert {
		p.certificate(&s, vals)
	}
	return s, len(p.probs) == before
}

// parseMode reads an octal mode under the agent config's rules: readable by
// the owner, no bits beyond permissions, not world-writable.
func parseMode(v string) (config.FileMode, string) {
	m, err := config.ParseFileMode(v)
	switch {
	case err != nil:
		return 0, fmt.Sprintf("%s must be octal permissions such as \"0400\" or \"0440\"", quote(v))
	case m&0o400 == 0:
		return 0, fmt.Sprintf("%s must let the owner read the files (e.g. 0400, 0440)", quote(v))
	case m&0o002 != 0:
		return 0, fmt.Sprintf("%s is world-writable", quote(v))
	}
	return m, ""
}

// parseFields reads "field=target,field=target". json targets are relative
// file paths under the secret's directory; env targets are variable names.
// Field names and targets are names, not values, so messages may show them.
func parseFields(v, format string) (map[string]string, []string) {
	fields := map[string]string{}
	var reasons []string
	bad := func(format string, args ...any) { reasons = append(reasons, fmt.Sprintf(format, args...)) }
	targets := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(pair), "=")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		switch {
		case !ok || from == "" || to == "":
			bad("each entry must be field=target, e.g. \"ca=ca.crt\"; got %s", quote(pair))
			continue
		case len(from) > maxFieldLength || hasControl(from):
			bad("field name %s must be at most %d characters, without control characters", quote(from), maxFieldLength)
			continue
		case fields[from] != "":
			bad("field %s is listed twice", quote(from))
			continue
		}
		if format == config.FormatJSON {
			if err := config.ValidatePath(to); err != nil {
				bad("field %s: target %v", quote(from), err)
				continue
			}
		} else if !config.ValidEnvName(to) {
			bad("field %s: %s is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", quote(from), quote(to))
			continue
		}
		if other, dup := targets[to]; dup {
			bad("fields %s and %s both write %s", quote(other), quote(from), quote(to))
			continue
		}
		targets[to] = from
		fields[from] = to
	}
	if format == config.FormatJSON {
		for _, b := range slices.Sorted(maps.Keys(targets)) {
			for i := range len(b) {
				if a := b[:i]; b[i] == '/' && targets[a] != "" {
					bad("%s is both a file and a directory of %s", quote(a), quote(b))
				}
			}
		}
	}
	return fields, reasons
}

// backendRefProblem checks a reference against the grammar of the pod's
// backend where the injector knows it without calling the backend: Secret
// Manager's (package gcpref, the one the agent resolves). The message
// never shows the reference.
func (p *parser) backendRefProblem(ref string) string {
	if p.be.Type != config.BackendGCP || p.be.GCP == nil {
		return ""
	}
	project := p.be.GCP.Project
	if project != "" && gcpProjectProblem(project) != "" {
		// The gcp-project key is denied on its own; check the reference
		// as if the project were good, rather than say it twice.
		project = "project-placeholder"
	}
	_, err := gcpref.Parse(ref, project)
	if err == nil {
		return ""
	}
	var e *gcpref.Error
	if !errors.As(err, &e) {
		return "is not a Secret Manager reference"
	}
	msg := "is not a Secret Manager reference: " + e.Redacted()
	if project == "" && e.Part == "reference" && strings.Contains(e.Reason, "needs a project") {
		msg = "is not a Secret Manager reference: a short secret name needs a project, and this cluster sets none: set " +
			AnnotationGCPProject + ", or give the full name projects/P/secrets/S (or projects/P/locations/L/secrets/S)"
	}
	return msg
}
