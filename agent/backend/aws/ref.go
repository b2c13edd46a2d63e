package aws

import (
	"errors"
	"fmt"
	"strings"
)

// stageCurrent is the staging label a reference without a selector reads.
const stageCurrent = "AWSCURRENT"

// versionIDSelector introduces a pinned version id after '#'.
const versionIDSelector = "version-id="

// target is what a reference resolves to: a SecretId and at most one of a
// staging label or a version id.
type target struct {
	secretID  string
	stage     string // "" means AWSCURRENT
	versionID string
}

// parseRef reads the reference grammar documented on Backend. '#' splits
// the secret from its selector because it can appear neither in a secret
// name nor in an ARN, while ':' appears in every ARN.
func parseRef(ref string) (target, error) {
	id, sel, hasSel := strings.Cut(ref, "#")
	var t target
	t.secretID = id
	if err := checkSecretID(id); err != nil {
		return t, err
	}
	if !hasSel {
		return t, nil
	}
	if strings.Contains(sel, "#") {
		return t, errors.New("only one '#' selector is allowed")
	}
	if v, ok := strings.CutPrefix(sel, versionIDSelector); ok {
		if err := checkToken("version id", v, 32, 64); err != nil {
			return t, err
		}
		t.versionID = v
		return t, nil
	}
	if err := checkToken("staging label", sel, 1, 256); err != nil {
		return t, err
	}
	t.stage = sel
	return t, nil
}

// checkSecretID accepts a secret name or ARN: non-empty, at most 2048
// characters (the service's limit), printable, no spaces.
func checkSecretID(id string) error {
	if id == "" {
		return errors.New("the secret name or ARN before '#' must not be empty")
	}
	if len(id) > 2048 {
		return errors.New("the secret name or ARN is longer than 2048 characters")
	}
	if strings.IndexFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return errors.New("the secret name or ARN must not contain spaces or control characters")
	}
	return nil
}

// checkToken bounds a staging label or version id as the service does.
func checkToken(what, s string, minLen, maxLen int) error {
	if len(s) < minLen || len(s) > maxLen {
		return fmt.Errorf("the %s after '#' must be %d to %d characters long", what, minLen, maxLen)
	}
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf("the %s after '#' must not contain spaces or control characters", what)
	}
	return nil
}

// wantStage is the staging label the target reads when not pinned.
func (t target) wantStage() string {
	if t.stage == "" {
		return stageCurrent
	}
	return t.stage
}
