package injector

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tradepulse/secret-injector/agent/config"
)

// Each helper returns "" when the value is fine, else what is wrong with it,
// phrased to follow "annotation <key>: ".

// Limits on annotation values, well above any legitimate use.
const (
	maxRefLength     = 1024
	maxProcessLength = 64
	maxFieldLength   = 256
	maxURLLength     = 2048
	// maxConfigBytes bounds the encoded agent config: it travels in one
	// environment variable, and Linux refuses to exec with a single
	// environment string over 128 KiB.
	maxConfigBytes = 64 << 10
)

// quote shows a user's value in a message, cut short so that a pasted blob
// never fills a denial. Only values that cannot be secret are quoted: refs,
// templates and fields are named by key instead.
func quote(v string) string {
	const max = 64
	if len(v) <= max {
		return strconv.Quote(v)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return strconv.Quote(v[:cut]) + "…"
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// parseInterval reads a Go duration of at least min (the cluster's
// minimum, itself at least one second).
func parseInterval(v string, min time.Duration) (time.Duration, string) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Sprintf("%s is not a Go duration such as \"30s\" or \"5m\"", quote(v))
	}
	if d < min {
		return 0, fmt.Sprintf("%s is below this cluster's minimum refresh interval of %s", quote(v), shortDuration(min))
	}
	return d, ""
}

// shortDuration writes a duration as a person would: "5m", not "5m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// parseBool accepts exactly "true" or "false": "yes" or "1" are more likely
// a mistake than a choice.
func parseBool(v string) (bool, string) {
	switch v {
	case "true":
		return true, ""
	case "false":
		return false, ""
	}
	return false, fmt.Sprintf("must be \"true\" or \"false\", not %s", quote(v))
}

// refProblem checks a secret's backend reference. The reference is never
// quoted: a user may have pasted a value where a reference belongs.
func refProblem(ref string) string {
	switch {
	case ref == "":
		return "the reference must not be empty"
	case len(ref) > maxRefLength:
		return fmt.Sprintf("the reference is longer than %d characters", maxRefLength)
	case hasControl(ref):
		return "the reference must not contain control characters (newlines, tabs)"
	case strings.TrimSpace(ref) != ref:
		return "the reference must not start or end with spaces"
	}
	return ""
}

// deniedMountRoots are directories the secrets volume may not be mounted at
// or under: the kernel's, the image's system directories, and the
// service-account token mounts (ours and Kubernetes').
var deniedMountRoots = []string{
	"/proc", "/sys", "/dev", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/usr", "/boot",
	"/var/run/secrets/kubernetes.io", "/run/secrets/kubernetes.io",
	agentDir, "/run/secrets/tradepulse.io",
}

// deniedMountAncestors would shadow one of the roots above.
var deniedMountAncestors = []string{"/var", "/var/run", "/var/run/secrets", "/run", "/run/secrets"}

// mountPathProblem checks the mount-path annotation.
func mountPathProblem(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%s must be an absolute path", quote(p))
	case len(p) > config.MaxPathLength:
		return fmt.Sprintf("the path is longer than %d characters", config.MaxPathLength)
	case path.Clean(p) != p:
		return fmt.Sprintf("%s is not clean: no \"..\", \".\", \"//\" or trailing \"/\"", quote(p))
	case p == "/":
		return "must not be \"/\""
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '/') {
			return fmt.Sprintf("%s may hold only A-Z, a-z, 0-9, '.', '_', '-' and '/'", quote(p))
		}
	}
	for _, root := range deniedMountRoots {
		if p == root || strings.HasPrefix(p, root+"/") {
			return fmt.Sprintf("%s is under %s, which the secrets volume must not cover", quote(p), root)
		}
	}
	for _, a := range deniedMountAncestors {
		if p == a {
			return fmt.Sprintf("%s would hide the service-account token mounts below it", quote(p))
		}
	}
	return ""
}

// imageProblem checks the shape of an image reference.
func imageProblem(img string) string {
	switch {
	case img == "":
		return "must not be empty"
	case len(img) > 512:
		return "is longer than 512 characters"
	case strings.ContainsFunc(img, unicode.IsSpace) || hasControl(img):
		return "must not contain spaces or control characters"
	}
	return ""
}

// imageAllowed reports whether a pod may run img as its agent.
func imageAllowed(img string, opts Options) bool {
	if img == opts.AgentImage {
		return true
	}
	for _, a := range opts.AllowedImages {
		if strings.HasSuffix(a, "/") || strings.HasSuffix(a, ":") {
			if strings.HasPrefix(img, a) && len(img) > len(a) {
				return true
			}
		} else if img == a {
			return true
		}
	}
	return false
}

// vaultAddressProblem checks the shape of a Vault server URL.
func vaultAddressProblem(a string) string {
	rest, ok := strings.CutPrefix(a, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(a, "http://")
	}
	if !ok || rest == "" || strings.ContainsAny(rest, "@?# ") || hasControl(rest) {
		return fmt.Sprintf("%s must be an http(s) URL such as \"https://vault.vault.svc:8200\"", quote(a))
	}
	return ""
}

var (
	vaultRoleRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`)
	// Project IDs: 6–30 of a-z, 0-9, '-', starting with a letter, not
	// ending with '-'. Project numbers work in resource names too.
	gcpProjectRE = regexp.MustCompile(`^([a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})$`)
	// Regions: us-east-1, eu-central-2, us-gov-west-1, us-isob-east-1.
	awsRegionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
)

func vaultRoleProblem(r string) string {
	if !vaultRoleRE.MatchString(r) {
		return fmt.Sprintf("%s must be 1–128 of A-Z, a-z, 0-9, '.', '_', '@', '-', starting with a letter or digit", quote(r))
	}
	return ""
}

func vaultAuthPathProblem(p string) string {
	rest, ok := strings.CutPrefix(p, "auth/")
	if !ok || config.ValidatePath(rest) != nil {
		return fmt.Sprintf("%s must be an auth mount path such as \"auth/kubernetes\"", quote(p))
	}
	return ""
}

func gcpProjectProblem(p string) string {
	if !gcpProjectRE.MatchString(p) {
		return fmt.Sprintf("%s is not a project ID (6–30 of a-z, 0-9, '-', starting with a letter) or project number", quote(p))
	}
	return ""
}

func awsRegionProblem(r string) string {
	if !awsRegionRE.MatchString(r) {
		return fmt.Sprintf("%s is not an AWS region such as \"eu-west-1\"", quote(r))
	}
	return ""
}

// parseOwner reads "uid:gid". uid 0 is denied: the agent runs as the owner
// uid and never as root (an app running as root reads the files whatever
// their owner, so the key is not needed then).
func parseOwner(v string) (*config.Owner, string) {
	u, g, ok := strings.Cut(v, ":")
	uid, errU := strconv.ParseUint(u, 10, 31)
	gid, errG := strconv.ParseUint(g, 10, 31)
	if !ok || errU != nil || errG != nil {
		return nil, fmt.Sprintf("%s must be numeric uid:gid such as \"10001:10001\"", quote(v))
	}
	if uid == 0 {
		return nil, "uid 0 is root and the agent never runs as root; a root app reads the files anyway, so omit the key"
	}
	return &config.Owner{UID: int(uid), GID: int(gid)}, ""
}
