// Package gcpref parses references to Google Secret Manager secrets: the
// one grammar the gcp backend resolves and the injector checks at
// admission. It imports only the standard library, so that the webhook
// can validate a pod's references without linking the Secret Manager SDK.
//
// A reference names one secret and, optionally, one version:
//
//	projects/P/secrets/S                             the latest version of S in project P
//	projects/P/secrets/S/versions/V                  version V
//	projects/P/locations/L/secrets/S[/versions/V]    a regional secret in location L
//	S  or  S@V                                       secret ID S in the default project
//	tradepulse/postgres-tls  or  …@V                 a runbook path, mapped by SecretID
//
// V is "latest" (the default), a version number such as 7, or a version
// alias. A regional secret lives in one location and is reachable only
// through that location's endpoint (Endpoint); short names are global.
package gcpref

import (
	"fmt"
	"strings"
)

// Error is a reference that does not parse. Error() quotes the part at
// fault; Redacted says the same without any part of the reference, for
// callers that never show one (the webhook's denials).
type Error struct {
	// Path is the runbook path the part is in, if any.
	Path string
	// Part names the part at fault: "reference", "version", "secret ID",
	// "secret path", "path element", "project" or "location".
	Part string
	// Value is the part as written; empty when showing it says nothing.
	Value string
	// Reason says what is wrong with it, without quoting it.
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Path != "" {
		fmt.Fprintf(&b, "secret path %q: ", e.Path)
	}
	b.WriteString(e.Part)
	if e.Value != "" {
		fmt.Fprintf(&b, " %q", e.Value)
	}
	b.WriteString(" " + e.Reason)
	return b.String()
}

// Redacted is the error without the reference's text: "the location is
// not a region such as …".
func (e *Error) Redacted() string {
	return "the " + e.Part + " " + e.Reason
}

func badSecretID(id string) *Error {
	return &Error{Part: "secret ID", Value: id, Reason: fmt.Sprintf("may hold only A-Z, a-z, 0-9, '_' and '-', at most %d characters", MaxSecretIDLength)}
}

// MaxSecretIDLength is Secret Manager's limit on a secret ID.
const MaxSecretIDLength = 255

// maxLocationLength bounds a location: it becomes a DNS label of the
// regional endpoint's host name.
const maxLocationLength = 63

// pathSeparator is what a runbook path's "/" becomes in a secret ID.
const pathSeparator = "--"

// Name is a parsed reference: the resource names it stands for.
type Name struct {
	// Project is a project ID, project number or domain-scoped ID.
	Project string
	// Location is the region of a regional secret, e.g. "europe-west4";
	// empty for a global secret.
	Location string
	// Secret is the secret ID.
	Secret string
	// Version is "latest", a version number or an alias.
	Version string
}

// SecretName is the secret's resource name: "projects/P/secrets/S", or
// "projects/P/locations/L/secrets/S" for a regional secret.
func (n Name) SecretName() string {
	if n.Location != "" {
		return "projects/" + n.Project + "/locations/" + n.Location + "/secrets/" + n.Secret
	}
	return "projects/" + n.Project + "/secrets/" + n.Secret
}

// VersionName is the version's resource name: SecretName + "/versions/V".
func (n Name) VersionName() string {
	return n.SecretName() + "/versions/" + n.Version
}

// Endpoint is the gRPC endpoint of Secret Manager in a location:
// "secretmanager.<location>.rep.googleapis.com:443", the only endpoint
// that serves the location's regional secrets.
func Endpoint(location string) string {
	return "secretmanager." + location + ".rep.googleapis.com:443"
}

// Parse turns a reference into the names it stands for. project resolves
// short names (secret IDs and runbook paths); it may be empty when every
// reference is a full resource name. Errors say what is wrong with the
// reference's shape; they quote its parts, which are names, not values.
func Parse(ref, project string) (Name, error) {
	if strings.TrimSpace(ref) != ref || ref == "" {
		return Name{}, &Error{Part: "reference", Reason: "must be non-empty with no surrounding spaces"}
	}
	if rest, ok := strings.CutPrefix(ref, "projects/"); ok {
		return parseFull(rest)
	}
	name, version := ref, "latest"
	if i := strings.LastIndexByte(ref, '@'); i >= 0 {
		name, version = ref[:i], ref[i+1:]
		if !ValidVersion(version) {
			return Name{}, &Error{Part: "version", Value: version, Reason: `after '@' must be "latest", a version number or an alias`}
		}
	}
	id := name
	if strings.Contains(name, "/") {
		var err error
		if id, err = SecretID(name); err != nil {
			return Name{}, err
		}
	} else if !ValidSecretID(name) {
		return Name{}, badSecretID(name)
	}
	if project == "" {
		return Name{}, &Error{Part: "reference", Reason: "is a short secret name, which needs a project: set the gcp backend's project, or use projects/P/secrets/S"}
	}
	if err := CheckProject(project); err != nil {
		return Name{}, err
	}
	return Name{Project: project, Secret: id, Version: version}, nil
}

// fullForms is what a full name may look like, for error messages.
const fullForms = "projects/P/secrets/S[/versions/V] or, for a regional secret, projects/P/locations/L/secrets/S[/versions/V]"

// parseFull parses the part of a full resource name after "projects/".
func parseFull(rest string) (Name, error) {
	parts := strings.Split(rest, "/")
	var n Name
	n.Project, parts = parts[0], parts[1:]
	if len(parts) >= 2 && parts[0] == "locations" {
		n.Location, parts = parts[1], parts[2:]
		if err := CheckLocation(n.Location); err != nil {
			return Name{}, err
		}
	}
	if (len(parts) != 2 && len(parts) != 4) || parts[0] != "secrets" || (len(parts) == 4 && parts[2] != "versions") {
		return Name{}, &Error{Part: "reference", Reason: "is not a full name: a full name must be " + fullForms}
	}
	n.Secret, n.Version = parts[1], "latest"
	if len(parts) == 4 {
		n.Version = parts[3]
	}
	if err := CheckProject(n.Project); err != nil {
		return Name{}, err
	}
	if !ValidSecretID(n.Secret) {
		return Name{}, badSecretID(n.Secret)
	}
	if !ValidVersion(n.Version) {
		return Name{}, &Error{Part: "version", Value: n.Version, Reason: `must be "latest", a version number or an alias`}
	}
	return n, nil
}

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
		return "", &Error{Part: "secret path", Reason: "must not be empty"}
	}
	elems := strings.Split(path, "/")
	for _, el := range elems {
		if err := checkElement(el); err != nil {
			err.Path = path
			return "", err
		}
	}
	id := strings.Join(elems, pathSeparator)
	if len(id) > MaxSecretIDLength {
		return "", &Error{Path: path, Part: "secret ID", Value: id, Reason: fmt.Sprintf("is longer than %d characters", MaxSecretIDLength)}
	}
	return id, nil
}

// PathFromID is the inverse of SecretID: it returns the runbook path a
// secret ID stands for, and false when no path maps to id.
func PathFromID(id string) (string, bool) {
	if !ValidSecretID(id) {
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
func checkElement(el string) *Error {
	switch {
	case el == "":
		return &Error{Part: "path element", Reason: "must not be empty (the path has an empty path element)"}
	case !idChars(el):
		return &Error{Part: "path element", Value: el, Reason: "may hold only A-Z, a-z, 0-9, '_' and '-'"}
	case strings.Contains(el, pathSeparator):
		return &Error{Part: "path element", Value: el, Reason: `must not contain "--" (it separates path elements in secret IDs)`}
	case strings.HasPrefix(el, "-") || strings.HasSuffix(el, "-"):
		return &Error{Part: "path element", Value: el, Reason: "must not start or end with '-'"}
	}
	return nil
}

// ValidSecretID reports whether s is a valid Secret Manager secret ID.
func ValidSecretID(s string) bool {
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

// ValidVersion accepts "latest", a version number, or a version alias.
func ValidVersion(v string) bool {
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

// CheckProject accepts project IDs, project numbers and legacy
// domain-scoped IDs ("example.com:project").
func CheckProject(p string) error {
	if p == "" {
		return &Error{Part: "project", Reason: "must not be empty"}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':') {
			return &Error{Part: "project", Value: p, Reason: "may hold only a-z, 0-9, '-', and for domain-scoped projects '.' and ':'"}
		}
	}
	return nil
}

// CheckLocation accepts a Google Cloud region such as "europe-west4" or
// "northamerica-northeast1": lower-case words joined by '-', ending in a
// number. Regional secrets live in regions only (not in multi-regions
// such as "us", nor in "global"), and the location becomes part of the
// regional endpoint's host name, so nothing else is accepted.
func CheckLocation(l string) error {
	if !validLocation(l) {
		return &Error{Part: "location", Value: l, Reason: `is not a region such as "europe-west4" (regional secrets live in one region)`}
	}
	return nil
}

func validLocation(l string) bool {
	if len(l) == 0 || len(l) > maxLocationLength {
		return false
	}
	// words: [a-z]+ ( '-' [a-z]+ )+ then digits [0-9]{1,2}
	i, words := 0, 0
	for {
		start := i
		for i < len(l) && l[i] >= 'a' && l[i] <= 'z' {
			i++
		}
		if i == start {
			return false
		}
		words++
		if i < len(l) && l[i] == '-' {
			i++
			continue
		}
		break
	}
	digits := len(l) - i
	if words < 2 || digits < 1 || digits > 2 {
		return false
	}
	for ; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}
