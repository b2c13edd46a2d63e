package awstest

import (
	"slices"
	"strconv"
	"time"
)

func notFound() *apiError {
	return newError(CodeResourceNotFound, "Secrets Manager can't find the specified secret.")
}

func missing(field string) *apiError {
	return newError(CodeInvalidParameter, "You must provide a value for "+field+".")
}

// existing finds the secret id names for op, which must be allowed on it:
// a live one or one scheduled for deletion.
func (s *Server) existing(op, id string) (*secret, *apiError) {
	if id == "" {
		return nil, missing("SecretId")
	}
	if e := s.denyCheck(op, id); e != nil {
		return nil, e
	}
	sec, ok := s.st.lookup(id)
	if !ok {
		return nil, notFound()
	}
	return sec, nil
}

// readable finds the secret id names for an operation that needs it live:
// allowed, existing and not scheduled for deletion.
func (s *Server) readable(op, id string) (*secret, *apiError) {
	sec, e := s.existing(op, id)
	if e != nil {
		return nil, e
	}
	if !sec.deletion.IsZero() {
		return nil, newError(CodeInvalidRequest, MarkedForDeletion)
	}
	return sec, nil
}

func (s *Server) getSecretValue(in *getSecretValueInput) (any, *apiError) {
	sec, e := s.readable("GetSecretValue", in.SecretId)
	if e != nil {
		return nil, e
	}
	var v *version
	if in.VersionId != "" {
		v = sec.versions[in.VersionId]
		if v == nil || in.VersionStage != "" && !slices.Contains(v.stages, in.VersionStage) {
			return nil, newError(CodeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: "+in.VersionId)
		}
	} else {
		stage := in.VersionStage
		if stage == "" {
			stage = StageCurrent
		}
		if v = sec.stageVersion(stage); v == nil {
			return nil, newError(CodeResourceNotFound, "Secrets Manager can't find the specified secret value for staging label: "+stage)
		}
	}
	out := getSecretValueOutput{
		ARN:           sec.arn,
		Name:          sec.name,
		VersionId:     v.id,
		VersionStages: slices.Clone(v.stages),
		CreatedDate:   epochPtr(v.created),
	}
	if v.binary {
		out.SecretBinary = slices.Clone(v.data)
	} else {
		str := string(v.data)
		out.SecretString = &str
	}
	return out, nil
}

func (s *Server) describeSecret(in *describeSecretInput) (any, *apiError) {
	sec, e := s.existing("DescribeSecret", in.SecretId)
	if e != nil {
		return nil, e
	}
	return describeSecretOutput{
		ARN:                sec.arn,
		Name:               sec.name,
		CreatedDate:        epochPtr(sec.created),
		LastChangedDate:    epochPtr(sec.changed),
		DeletedDate:        epochPtr(sec.deletion),
		VersionIdsToStages: sec.stagesByVersion(),
	}, nil
}

// value checks that exactly one of SecretString and SecretBinary is set.
func value(str *string, bin []byte) (data []byte, binary bool, e *apiError) {
	switch {
	case str != nil && bin != nil:
		return nil, false, newError(CodeInvalidParameter, "You can't specify both SecretString and SecretBinary.")
	case bin != nil:
		return bin, true, nil
	case str != nil:
		return []byte(*str), false, nil
	}
	return nil, false, newError(CodeInvalidRequest, "You must provide either SecretString or SecretBinary.")
}

// versionID is the ClientRequestToken, which becomes the version id, or a
// fresh one.
func versionID(token string) (string, *apiError) {
	if token == "" {
		return newVersionID(), nil
	}
	if len(token) < 32 || len(token) > 64 {
		return "", newError(CodeInvalidParameter, "ClientRequestToken must be 32 to 64 characters long.")
	}
	return token, nil
}

func (s *Server) putSecretValue(in *putSecretValueInput) (any, *apiError) {
	data, binary, e := value(in.SecretString, in.SecretBinary)
	if e != nil {
		return nil, e
	}
	id, e := versionID(in.ClientRequestToken)
	if e != nil {
		return nil, e
	}
	for _, st := range in.VersionStages {
		if st == "" || len(st) > 256 {
			return nil, newError(CodeInvalidParameter, "VersionStages must hold labels of 1 to 256 characters.")
		}
	}
	sec, e := s.readable("PutSecretValue", in.SecretId)
	if e != nil {
		return nil, e
	}
	if err := sec.put(id, data, binary, in.VersionStages, s.now()); err != nil {
		return nil, newError(CodeResourceExists, err.Error())
	}
	return putSecretValueOutput{
		ARN:           sec.arn,
		Name:          sec.name,
		VersionId:     id,
		VersionStages: slices.Clone(sec.versions[id].stages),
	}, nil
}

func (s *Server) createSecret(in *createSecretInput) (any, *apiError) {
	if in.Name == "" {
		return nil, missing("Name")
	}
	if !validName.MatchString(in.Name) {
		return nil, newError(CodeInvalidParameter, "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if e := s.denyCheck("CreateSecret", in.Name); e != nil {
		return nil, e
	}
	if sec, ok := s.st.secrets[in.Name]; ok {
		if !sec.deletion.IsZero() {
			return nil, newError(CodeInvalidRequest, "You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		return nil, newError(CodeResourceExists, "The operation failed because the secret "+in.Name+" already exists.")
	}
	hasValue := in.SecretString != nil || in.SecretBinary != nil
	var (
		data   []byte
		binary bool
		id     string
		e      *apiError
	)
	if hasValue {
		if data, binary, e = value(in.SecretString, in.SecretBinary); e != nil {
			return nil, e
		}
		if id, e = versionID(in.ClientRequestToken); e != nil {
			return nil, e
		}
	}
	now := s.now()
	sec := newSecret(in.Name, now)
	if hasValue {
		_ = sec.put(id, data, binary, nil, now) // a new secret has no versions to clash with
	}
	s.st.secrets[in.Name] = sec
	return createSecretOutput{ARN: sec.arn, Name: sec.name, VersionId: id}, nil
}

func (s *Server) deleteSecret(in *deleteSecretInput) (any, *apiError) {
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		if force {
			return nil, newError(CodeInvalidParameter, "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
		}
		days = *in.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, newError(CodeInvalidParameter, "RecoveryWindowInDays must be between 7 and 30 days, got "+strconv.FormatInt(days, 10)+".")
		}
	}
	sec, e := s.existing("DeleteSecret", in.SecretId)
	if e != nil {
		return nil, e
	}
	now := s.now()
	if force {
		delete(s.st.secrets, sec.name)
		return deleteSecretOutput{ARN: sec.arn, Name: sec.name, DeletionDate: epochPtr(now)}, nil
	}
	if !sec.deletion.IsZero() {
		return nil, newError(CodeInvalidRequest, "You can't perform this operation on the secret because it was already scheduled for deletion.")
	}
	sec.deletion = now.Add(time.Duration(days) * 24 * time.Hour)
	sec.changed = now
	return deleteSecretOutput{ARN: sec.arn, Name: sec.name, DeletionDate: epochPtr(sec.deletion)}, nil
}

func (s *Server) restoreSecret(in *restoreSecretInput) (any, *apiError) {
	sec, e := s.existing("RestoreSecret", in.SecretId)
	if e != nil {
		return nil, e
	}
	sec.deletion = time.Time{}
	sec.changed = s.now()
	return restoreSecretOutput{ARN: sec.arn, Name: sec.name}, nil
}
