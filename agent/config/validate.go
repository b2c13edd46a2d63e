package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MinRefreshInterval is the shortest refresh interval the agent accepts:
// the injector's cluster minimum (Options.MinRefreshInterval) may be longer,
// never shorter.
const MinRefreshInterval = Duration(time.Second)

// Validate reports every problem with a normalised config at once, one
// line per problem naming the field at fault (Check, joined).
func (c *Config) Validate() error { return c.Check().Err() }

// Check reports every problem with a normalised config, each with the path
// of the field at fault.
func (c *Config) Check() FieldErrors {
	var errs FieldErrors
	if c.Version != APIVersion {
		errs.add("version", "%q is not supported; want %q", c.Version, APIVersion)
	}
	if !slices.Contains(Backends, c.Backend.Type) {
		errs.add("backend.type", "%q is not one of %s", c.Backend.Type, strings.Join(Backends, ", "))
	}
	if c.MountPath == "" {
		errs.add("mountPath", "must not be empty")
	}
	if c.RefreshInterval < MinRefreshInterval {
		errs.add("refreshInterval", "%s is below the %s minimum", c.RefreshInterval, MinRefreshInterval)
	}
	if g := c.Backend.GCP; g != nil && g.Insecure && g.Endpoint == "" {
		errs.add("backend.gcp.insecure", "needs backend.gcp.endpoint")
	}
	c.Notify.check("notify", &errs)
	if len(c.Secrets) == 0 {
		errs.add("secrets", "at least one secret is required")
	}
	seen := map[string]bool{}
	for i := range c.Secrets {
		s := &c.Secrets[i]
		s.check(index("secrets", i), c.Backend.Type, seen[s.Name], &errs)
		seen[s.Name] = true
	}
	return errs
}

// check reports the problems of a notify block at path.
func (n Notify) check(path string, errs *FieldErrors) {
	if n.Signal != "" && n.URL != "" {
		errs.add(path, "set signal or url, not both")
	}
	if n.Signal != "" {
		if err := ValidateSignal(n.Signal); err != nil {
			errs.add(path+".signal", "%v", err)
		}
		if n.Process == "" {
			errs.add(path+".process", "required with %s.signal", path)
		}
	}
	if n.URL != "" {
		if err := ValidateLocalURL(n.URL); err != nil {
			errs.add(path+".url", "%v", err)
		}
	}
}

// check reports the problems of one secret at path; backend is the
// config's backend type, dup whether an earlier secret has its name.
func (s *Secret) check(path, backend string, dup bool, errs *FieldErrors) {
	if err := ValidateName(s.Name); err != nil {
		errs.add(path+".name", "%v", err)
	}
	if dup {
		errs.add(path+".name", "%s is the name of an earlier secret", shortQuote(s.Name))
	}
	if strings.TrimSpace(s.Ref) == "" {
		errs.add(path+".ref", "must not be empty")
	}
	if !slices.Contains(Formats, s.Format) {
		errs.add(path+".format", "%q is not one of %s", s.Format, strings.Join(Formats, ", "))
	}
	if s.Format == FormatTemplate && s.Template == "" {
		errs.add(path+".template", "required with format template")
	}
	if s.Format != FormatTemplate && s.Template != "" {
		errs.add(path+".template", "only used with format template")
	}
	if len(s.Fields) > 0 && s.Format != FormatJSON && s.Format != FormatEnv {
		errs.add(path+".fields", "only used with format json or env")
	}
	for field, to := range s.Fields {
		if s.Format == FormatJSON {
			if err := ValidatePath(to); err != nil {
				errs.add(mapKey(path+".fields", field), "%v", err)
			}
		} else if s.Format == FormatEnv && !ValidEnvName(to) {
			errs.add(mapKey(path+".fields", field), "%q is not a valid environment variable name", to)
		}
	}
	if s.Mode&^0o777 != 0 || s.Mode&0o400 == 0 {
		errs.add(path+".mode", "%s must be a permission mode readable by its owner (e.g. 0400, 0440)", s.Mode)
	}
	if s.Mode&0o002 != 0 {
		errs.add(path+".mode", "%s is world-writable", s.Mode)
	}
	if s.RefreshInterval < MinRefreshInterval {
		errs.add(path+".refreshInterval", "%s is below the %s minimum", s.RefreshInterval, MinRefreshInterval)
	}
	if s.Owner != nil && (s.Owner.UID < 0 || s.Owner.GID < 0) {
		errs.add(path+".owner", "uid and gid must not be negative")
	}
	if s.Certificate != nil {
		if backend != BackendVault {
			errs.add(path+".certificate", "certificates are issued by backend vault (its PKI engine), not %s", backend)
		}
		if err := ValidateIssueRef(s.Ref); err != nil {
			errs.add(path+".ref", "with certificate, %v", err)
		}
		if s.Format != FormatJSON && s.Format != FormatTemplate {
			errs.add(path+".format", "a certificate is written as json (cert.pem, key.pem, ca.pem) or template, not %s", s.Format)
		}
		s.Certificate.check(path+".certificate", errs)
	}
}

// Name limits: a secret's name is one path element under the mount path.
const (
	MaxNameLength = 63
	MaxPathLength = 253
)

// ValidateName checks a secret's name: [a-z0-9][a-z0-9._-]*, no "..",
// at most MaxNameLength characters.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > MaxNameLength:
		return fmt.Errorf("%q is longer than %d characters", name, MaxNameLength)
	case strings.Contains(name, ".."):
		return fmt.Errorf("%q must not contain \"..\"", name)
	}
	for i, r := range name {
		lowerOrDigit := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if i == 0 && !lowerOrDigit {
			return fmt.Errorf("%q must start with a lower-case letter or digit", name)
		}
		if !lowerOrDigit && r != '.' && r != '_' && r != '-' {
			return fmt.Errorf("%q may hold only a-z, 0-9, '.', '_' and '-'", name)
		}
	}
	return nil
}

// ValidatePath checks a relative file path inside the mount: slash-separated
// elements, each of [A-Za-z0-9._-], none "." or "..", none starting with
// ".." (the writer's own entries), at most MaxPathLength characters.
func ValidatePath(p string) error {
	switch {
	case p == "":
		return errors.New("path must not be empty")
	case len(p) > MaxPathLength:
		return fmt.Errorf("path %q is longer than %d characters", p, MaxPathLength)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q must be relative", p)
	}
	for _, el := range strings.Split(p, "/") {
		switch {
		case el == "":
			return fmt.Errorf("path %q has an empty element", p)
		case el == "." || el == "..":
			return fmt.Errorf("path %q must not contain %q", p, el)
		case strings.HasPrefix(el, ".."):
			return fmt.Errorf("path %q: element %q must not start with \"..\"", p, el)
		case len(el) > MaxNameLength*4:
			return fmt.Errorf("path %q: element %q is too long", p, el)
		}
		for _, r := range el {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
				return fmt.Errorf("path %q may hold only A-Z, a-z, 0-9, '.', '_', '-' and '/'", p)
			}
		}
	}
	return nil
}

// ValidateLocalURL accepts only http(s) URLs on a loopback host, so that a
// pod annotation cannot make the agent call anywhere else.
func ValidateLocalURL(raw string) error {
	rest, ok := strings.CutPrefix(raw, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(raw, "https://")
	}
	if !ok {
		return fmt.Errorf("%q must start with http:// or https://", raw)
	}
	host := rest
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if strings.Contains(host, "@") {
		return fmt.Errorf("%q must not carry user info", raw)
	}
	if strings.HasPrefix(host, "[") {
		end := strings.Index(host, "]")
		if end < 0 {
			return fmt.Errorf("%q has a malformed host", raw)
		}
		host, rest = host[1:end], host[end+1:]
		if rest != "" && !strings.HasPrefix(rest, ":") {
			return fmt.Errorf("%q has a malformed host", raw)
		}
	} else if i := strings.LastIndex(host, ":"); i >= 0 {
		if _, err := strconv.Atoi(host[i+1:]); err != nil {
			return fmt.Errorf("%q has a malformed port", raw)
		}
		host = host[:i]
	}
	switch host {
	case "localhost", "127.0.0.1", "::1":
		return nil
	}
	return fmt.Errorf("%q must be on localhost, 127.0.0.1 or [::1]", raw)
}

// ValidEnvName reports whether s can name an environment variable:
// [A-Za-z_][A-Za-z0-9_]*.
func ValidEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
