package gcp

import (
	"errors"
	"fmt"
	"strings"
)

// MaxSecretIDLength is Secret Manager's limit on a secret ID.
const MaxSecretIDLength = 255

// pathSeparator is what a runbook path's "/" becomes in a secret ID.
const pathSeparator = "--"

// SecretID maps a runbook path to a Secret Manager secret ID by one
// reversible rule: the path's "/" separators become "--" (a double dash).
//
//	tradepulse/exchanges/binance/api-key  →  tradepulse--exchanges--binance--api-key
//	tradepulse/postgres-tls               →  tradepulse--postgres-tls
//
// Secret IDs allow only A-Z, a-z, 0-9, '_' and '-', at most 255 characters.
// So that every ID maps back to exactly one path (PathFromID), each path
// element must be non-empty, hold only those characters, not contain "--",
// and not start or end with '-'. Any other path is rejected with an error
// that names it. A secret whose ID does not follow this rule is still
// reachable by its plain ID or its full resource name.
func SecretID(path string) (string, error) {
	if path == "" {
		return "", errors.New("secret path must not be empty")
	}
	elems := strings.Split(path, "/")
	for _, el := range elems {
		if err := checkElement(el); err != nil {
			return "", fmt.Errorf("secret path %q: %w", path, err)
		}
	}
	id := strings.Join(elems, pathSeparator)
	if len(id) > MaxSecretIDLength {
		return "", fmt.Errorf("secret path %q: secret ID %q is longer than %d characters", path, id, MaxSecretIDLength)
	}
	return id, nil
}

// PathFromID is the inverse of SecretID: it returns the runbook path a
// secret ID stands for, and false when no path maps to id.
func PathFromID(id string) (string, bool) {
	if !validSecretID(id) {
		return "", false
	}
	elems := strings.Split(id, pathSeparator)
	for _, el := range elems {
		if checkElement(el) != nil {
			return "", false
		}
	}
	return strings.Join(elems, "/"), true
}

// checkElement enforces the rule that keeps SecretID reversible.
func checkElement(el string) error {
	switch {
	case el == "":
		return errors.New("empty path element")
	case !idChars(el):
		return fmt.Errorf("element %q may hold only A-Z, a-z, 0-9, '_' and '-'", el)
	case strings.Contains(el, pathSeparator):
		return fmt.Errorf("element %q must not contain %q (it separates path elements in secret IDs)", el, pathSeparator)
	case strings.HasPrefix(el, "-") || strings.HasSuffix(el, "-"):
		return fmt.Errorf("element %q must not start or end with '-'", el)
	}
	return nil
}

// validSecretID reports whether s is a valid Secret Manager secret ID.
func validSecretID(s string) bool {
	return s != "" && len(s) <= MaxSecretIDLength && idChars(s)
}

func idChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validVersion accepts "latest", a version number, or a version alias.
func validVersion(v string) bool {
	if v == "" || len(v) > 63 || !idChars(v) {
		return false
	}
	if v[0] >= '0' && v[0] <= '9' {
		// A number: digits only, no leading zero, not zero.
		if v[0] == '0' {
			return false
		}
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return false
			}
		}
	}
	return true
}

// target is what a reference resolves to.
type target struct {
	// secret is "projects/P/secrets/S".
	secret string
	// version is "projects/P/secrets/S/versions/V".
	version string
}

// resolve turns a reference into the resource names it stands for. The
// grammar (documented on Backend) is:
//
//	projects/P/secrets/S                full name, latest version
//	projects/P/secrets/S/versions/V     full name, version V
//	ID[@V]                              a secret ID in Options.Project
//	a/b/c[@V]                           a runbook path, mapped by SecretID
//
// V is "latest", a version number or a version alias.
func resolve(ref, project string) (target, error) {
	if strings.TrimSpace(ref) != ref || ref == "" {
		return target{}, errors.New("reference must be non-empty with no surrounding spaces")
	}
	if rest, ok := strings.CutPrefix(ref, "projects/"); ok {
		return resolveFull(rest)
	}
	name, version := ref, "latest"
	if i := strings.LastIndexByte(ref, '@'); i >= 0 {
		name, version = ref[:i], ref[i+1:]
		if !validVersion(version) {
			return target{}, fmt.Errorf("version %q after '@' must be \"latest\", a version number or an alias", version)
		}
	}
	id := name
	if strings.Contains(name, "/") {
		var err error
		if id, err = SecretID(name); err != nil {
			return target{}, err
		}
	} else if !validSecretID(name) {
		return target{}, fmt.Errorf("secret ID %q may hold only A-Z, a-z, 0-9, '_' and '-', at most %d characters", name, MaxSecretIDLength)
	}
	if project == "" {
		return target{}, errors.New("a short secret name needs a project: set the gcp backend's project, or use projects/P/secrets/S")
	}
	secret := "projects/" + project + "/secrets/" + id
	return target{secret: secret, version: secret + "/versions/" + version}, nil
}

// resolveFull parses the part of a full resource name after "projects/".
func resolveFull(rest string) (target, error) {
	parts := strings.Split(rest, "/")
	if len(parts) >= 2 && parts[1] == "locations" {
		return target{}, errors.New("regional secrets (projects/P/locations/L/...) are not supported; use a global secret")
	}
	if (len(parts) != 3 && len(parts) != 5) || parts[1] != "secrets" || (len(parts) == 5 && parts[3] != "versions") {
		return target{}, errors.New("a full name must be projects/P/secrets/S or projects/P/secrets/S/versions/V")
	}
	project, id, version := parts[0], parts[2], "latest"
	if len(parts) == 5 {
		version = parts[4]
	}
	if err := checkProject(project); err != nil {
		return target{}, err
	}
	if !validSecretID(id) {
		return target{}, fmt.Errorf("secret ID %q may hold only A-Z, a-z, 0-9, '_' and '-', at most %d characters", id, MaxSecretIDLength)
	}
	if !validVersion(version) {
		return target{}, fmt.Errorf("version %q must be \"latest\", a version number or an alias", version)
	}
	secret := "projects/" + project + "/secrets/" + id
	return target{secret: secret, version: secret + "/versions/" + version}, nil
}

// checkProject accepts project IDs, project numbers and legacy
// domain-scoped IDs ("example.com:project").
func checkProject(p string) error {
	if p == "" {
		return errors.New("project must not be empty")
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':') {
			return fmt.Errorf("project %q may hold only a-z, 0-9, '-', and for domain-scoped projects '.' and ':'", p)
		}
	}
	return nil
}
