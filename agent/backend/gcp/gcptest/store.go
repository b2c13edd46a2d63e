package gcptest

import (
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// maxPayload is Secret Manager's limit on one version's data.
const maxPayload = 64 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// secret is one stored secret; versions[i] is version i+1.
type secret struct {
	name     string
	created  time.Time
	labels   map[string]string
	repl     *secretmanagerpb.Replication
	versions []*version
}

type version struct {
	name      string
	data      []byte
	crc       int64
	state     secretmanagerpb.SecretVersion_State
	created   time.Time
	destroyed time.Time
	clientCRC bool
}

func (v *version) proto() *secretmanagerpb.SecretVersion {
	pv := &secretmanagerpb.SecretVersion{
		Name:                           v.name,
		CreateTime:                     timestamppb.New(v.created),
		State:                          v.state,
		Etag:                           fmt.Sprintf("\"%x-%d\"", v.created.UnixNano(), v.state),
		ClientSpecifiedPayloadChecksum: v.clientCRC,
	}
	if !v.destroyed.IsZero() {
		pv.DestroyTime = timestamppb.New(v.destroyed)
	}
	return pv
}

func (sec *secret) proto() *secretmanagerpb.Secret {
	repl := sec.repl
	if repl == nil && !strings.Contains(sec.name, "/locations/") {
		repl = &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}}
	}
	return &secretmanagerpb.Secret{
		Name:        sec.name,
		CreateTime:  timestamppb.New(sec.created),
		Labels:      sec.labels,
		Replication: repl,
	}
}

// createLocked stores a new, empty secret. Callers hold s.mu.
func (s *Server) createLocked(name string) *secret {
	sec := &secret{name: name, created: time.Now()}
	s.secrets[name] = sec
	return sec
}

// addLocked appends an enabled version. Callers hold s.mu.
func (s *Server) addLocked(sec *secret, data []byte) *version {
	v := &version{
		name:    fmt.Sprintf("%s/versions/%d", sec.name, len(sec.versions)+1),
		data:    append([]byte(nil), data...),
		crc:     int64(crc32.Checksum(data, castagnoli)),
		state:   secretmanagerpb.SecretVersion_ENABLED,
		created: time.Now(),
	}
	sec.versions = append(sec.versions, v)
	return v
}

// lookupLocked finds a version by its full name; "latest" is the most
// recently created version, whatever its state, as in Secret Manager.
// Callers hold s.mu.
func (s *Server) lookupLocked(name string) (*version, error) {
	secretName, id, err := s.parseVersion(name)
	if err != nil {
		return nil, err
	}
	sec := s.secrets[secretName]
	if sec == nil {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", secretName)
	}
	if id == "latest" {
		if len(sec.versions) == 0 {
			return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", secretName)
		}
		return sec.versions[len(sec.versions)-1], nil
	}
	n, err := strconv.Atoi(id)
	if err != nil || n < 1 || n > len(sec.versions) {
		return nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found.", name)
	}
	return sec.versions[n-1], nil
}

// secretsParent is the part of a secret's name before "/secrets/S" that
// this server serves, with P standing for any project: "projects/P" or
// "projects/P/locations/L".
func (s *Server) secretsParent() string {
	if s.location != "" {
		return "projects/*/locations/" + s.location
	}
	return "projects/*"
}

// parseSecret checks that this server serves the secret name
// ("projects/P/secrets/S" or "projects/P/locations/L/secrets/S") and
// returns S.
func (s *Server) parseSecret(name string) (string, error) {
	parent, id, ok := strings.Cut(name, "/secrets/")
	if !ok || s.parseParent(parent) != nil || strings.Contains(id, "/") {
		return "", status.Errorf(codes.InvalidArgument, "name %q must be %s/secrets/*", name, s.secretsParent())
	}
	if err := checkSecretID(id); err != nil {
		return "", err
	}
	return id, nil
}

// parseVersion checks "<secret name>/versions/V" and returns the secret's
// name and V.
func (s *Server) parseVersion(name string) (secretName, id string, err error) {
	i := strings.LastIndex(name, "/versions/")
	if i < 0 {
		return "", "", status.Errorf(codes.InvalidArgument, "name %q must be %s/secrets/*/versions/*", name, s.secretsParent())
	}
	secretName, id = name[:i], name[i+len("/versions/"):]
	if _, err := s.parseSecret(secretName); err != nil {
		return "", "", err
	}
	if id == "" || strings.Contains(id, "/") {
		return "", "", status.Errorf(codes.InvalidArgument, "name %q must be %s/secrets/*/versions/*", name, s.secretsParent())
	}
	return secretName, id, nil
}

// parseParent checks a CreateSecret parent: "projects/P" on the global
// endpoint, "projects/P/locations/L" on L's regional endpoint.
func (s *Server) parseParent(parent string) error {
	parts := strings.Split(parent, "/")
	ok := len(parts) >= 2 && parts[0] == "projects" && parts[1] != ""
	if s.location == "" {
		ok = ok && len(parts) == 2
	} else {
		ok = ok && len(parts) == 4 && parts[2] == "locations" && parts[3] == s.location
	}
	if !ok {
		return status.Errorf(codes.InvalidArgument, "parent %q must be %s", parent, s.secretsParent())
	}
	return nil
}

func checkSecretID(id string) error {
	if id == "" || len(id) > 255 {
		return status.Errorf(codes.InvalidArgument, "secret ID %q must be 1 to 255 characters", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return status.Errorf(codes.InvalidArgument, "secret ID %q may hold only [a-zA-Z0-9_-]", id)
		}
	}
	return nil
}

// stateError is Secret Manager's answer for a version that cannot be read
// or changed in its state.
func stateError(v *version) error {
	return status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in %s state.", v.name, v.state)
}
