package awstest

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Fixed identity of the fake account: ARNs are built from these.
const (
	// Region is the region in every ARN the server hands out.
	Region = "us-east-1"
	// AccountID is the account in every ARN the server hands out.
	AccountID = "123456789012"
)

// Staging labels Secrets Manager moves by itself.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	StagePending  = "AWSPENDING"
)

// maxVersions mirrors the service's quota: beyond it, the oldest versions
// without a staging label (deprecated) are removed, so long benchmarks do
// not grow without bound.
const maxVersions = 100

// arnPrefix is every secret ARN up to the name.
const arnPrefix = "arn:aws:secretsmanager:" + Region + ":" + AccountID + ":secret:"

// validName is the service's rule for secret names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9/_+=.@-]{1,512}$`)

// secret is one secret and all its versions.
type secret struct {
	name    string
	arn     string
	created time.Time
	changed time.Time
	// deletion is when a scheduled deletion takes effect; zero when none.
	deletion time.Time
	versions map[string]*version
	// order lists version ids oldest first.
	order []string
}

// version is one value of a secret.
type version struct {
	id      string
	data    []byte
	binary  bool
	created time.Time
	stages  []string
}

// store is the server's state. The Server's mutex guards it.
type store struct {
	secrets map[string]*secret // by name
}

func newSecret(name string, now time.Time) *secret {
	return &secret{
		name:     name,
		arn:      arnPrefix + name + "-" + randomString(6),
		created:  now,
		changed:  now,
		versions: map[string]*version{},
	}
}

// lookup resolves a SecretId — a name, a full ARN or a partial ARN (one
// without the random suffix) — as the service does.
func (st *store) lookup(id string) (*secret, bool) {
	if rest, ok := strings.CutPrefix(id, arnPrefix); ok {
		// A full ARN ends in "-" and six random characters.
		if i := len(rest) - 7; i > 0 && rest[i] == '-' {
			if s, ok := st.secrets[rest[:i]]; ok && s.arn == id {
				return s, true
			}
		}
		s, ok := st.secrets[rest]
		return s, ok
	}
	s, ok := st.secrets[id]
	return s, ok
}

// nameOf returns the secret name a SecretId stands for, whether or not the
// secret exists, so that access rules set by name apply to ARNs too.
func (st *store) nameOf(id string) string {
	if s, ok := st.lookup(id); ok {
		return s.name
	}
	rest, ok := strings.CutPrefix(id, arnPrefix)
	if !ok {
		return id
	}
	// A full ARN of a secret that no longer exists: drop "-XXXXXX".
	if i := len(rest) - 7; i > 0 && rest[i] == '-' {
		return rest[:i]
	}
	return rest
}

// purge removes secrets whose scheduled deletion has come.
func (st *store) purge(now time.Time) {
	for name, s := range st.secrets {
		if !s.deletion.IsZero() && !now.Before(s.deletion) {
			delete(st.secrets, name)
		}
	}
}

// put adds a version carrying stages, moving those labels off other
// versions; when AWSCURRENT moves, the version that had it gets
// AWSPREVIOUS. A version id that exists already with the same content is
// accepted again (idempotent retry); with other content it is refused.
func (s *secret) put(id string, data []byte, binary bool, stages []string, now time.Time) error {
	if v, ok := s.versions[id]; ok {
		if v.binary == binary && string(v.data) == string(data) {
			return nil
		}
		return errVersionExists
	}
	if len(stages) == 0 {
		stages = []string{StageCurrent}
	}
	oldCurrent := s.stageVersion(StageCurrent)
	for _, st := range stages {
		s.removeStage(st)
	}
	v := &version{id: id, data: slices.Clone(data), binary: binary, created: now, stages: slices.Clone(stages)}
	s.versions[id] = v
	s.order = append(s.order, id)
	if oldCurrent != nil && slices.Contains(stages, StageCurrent) {
		s.removeStage(StagePrevious)
		oldCurrent.stages = append(oldCurrent.stages, StagePrevious)
	}
	s.changed = now
	s.prune()
	return nil
}

// errVersionExists is PutSecretValue reusing a ClientRequestToken for a
// different value.
var errVersionExists = fmt.Errorf("a version with this ClientRequestToken already exists with different content")

func (s *secret) removeStage(stage string) {
	for _, v := range s.versions {
		v.stages = slices.DeleteFunc(v.stages, func(x string) bool { return x == stage })
	}
}

// stageVersion returns the version carrying stage, or nil.
func (s *secret) stageVersion(stage string) *version {
	for _, v := range s.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// prune drops the oldest deprecated versions beyond maxVersions.
func (s *secret) prune() {
	for len(s.order) > maxVersions {
		i := slices.IndexFunc(s.order, func(id string) bool { return len(s.versions[id].stages) == 0 })
		if i < 0 {
			return
		}
		delete(s.versions, s.order[i])
		s.order = slices.Delete(s.order, i, i+1)
	}
}

// stagesByVersion is DescribeSecret's VersionIdsToStages: only versions
// that carry a label.
func (s *secret) stagesByVersion() map[string][]string {
	m := map[string][]string{}
	for id, v := range s.versions {
		if len(v.stages) > 0 {
			m[id] = slices.Clone(v.stages)
		}
	}
	return m
}

// newVersionID returns a random UUID, the shape of the service's version
// ids (and of the SDK's ClientRequestToken).
func newVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomString returns n letters and digits, the shape of an ARN suffix.
func randomString(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
