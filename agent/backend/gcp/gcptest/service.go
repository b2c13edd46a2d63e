package gcptest

import (
	"context"
	"hash/crc32"
	"maps"
	"strconv"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// service implements the RPCs on the Server's store. It is a separate type
// so that the RPC methods do not become part of Server's API.
type service struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	s *Server
}

func (svc *service) CreateSecret(_ context.Context, req *secretmanagerpb.CreateSecretRequest) (*secretmanagerpb.Secret, error) {
	s := svc.s
	if err := s.parseParent(req.GetParent()); err != nil {
		return nil, err
	}
	if err := checkSecretID(req.GetSecretId()); err != nil {
		return nil, err
	}
	// A global secret says how it is replicated; a regional one lives in
	// its location and has no replication policy.
	if s.location == "" && req.GetSecret().GetReplication() == nil {
		return nil, status.Error(codes.InvalidArgument, "Secret.replication is required")
	}
	name := req.GetParent() + "/secrets/" + req.GetSecretId()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkAccessLocked(name, "secretmanager.secrets.create", false); err != nil {
		return nil, err
	}
	if s.secrets[name] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "Secret [%s] already exists.", name)
	}
	sec := s.createLocked(name)
	sec.labels = maps.Clone(req.GetSecret().GetLabels())
	sec.repl = proto.Clone(req.GetSecret().GetReplication()).(*secretmanagerpb.Replication)
	return sec.proto(), nil
}

func (svc *service) GetSecret(_ context.Context, req *secretmanagerpb.GetSecretRequest) (*secretmanagerpb.Secret, error) {
	return onSecret(svc.s, req.GetName(), "secretmanager.secrets.get", true, (*secret).proto)
}

func (svc *service) DeleteSecret(_ context.Context, req *secretmanagerpb.DeleteSecretRequest) (*emptypb.Empty, error) {
	return onSecret(svc.s, req.GetName(), "secretmanager.secrets.delete", false, func(*secret) *emptypb.Empty {
		delete(svc.s.secrets, req.GetName())
		return &emptypb.Empty{}
	})
}

func (svc *service) AddSecretVersion(_ context.Context, req *secretmanagerpb.AddSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	payload := req.GetPayload()
	switch {
	case payload == nil:
		return nil, status.Error(codes.InvalidArgument, "payload is required")
	case len(payload.GetData()) > maxPayload:
		return nil, status.Errorf(codes.InvalidArgument, "payload is larger than %d bytes", maxPayload)
	case payload.DataCrc32C != nil && *payload.DataCrc32C != int64(crc32.Checksum(payload.GetData(), castagnoli)):
		return nil, status.Error(codes.InvalidArgument, "Checksum mismatch: data_crc32c does not match the payload")
	}
	return onSecret(svc.s, req.GetParent(), "secretmanager.versions.add", false, func(sec *secret) *secretmanagerpb.SecretVersion {
		v := svc.s.addLocked(sec, payload.GetData())
		v.clientCRC = payload.DataCrc32C != nil
		return v.proto()
	})
}

func (svc *service) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	return onVersion(svc.s, req.GetName(), "secretmanager.versions.access", false, func(v *version) (*secretmanagerpb.AccessSecretVersionResponse, error) {
		if v.state != secretmanagerpb.SecretVersion_ENABLED {
			return nil, stateError(v)
		}
		crc := v.crc
		if svc.s.corrupt {
			crc ^= 0x5a5a
		}
		return &secretmanagerpb.AccessSecretVersionResponse{
			Name:    v.name,
			Payload: &secretmanagerpb.SecretPayload{Data: append([]byte(nil), v.data...), DataCrc32C: &crc},
		}, nil
	})
}

func (svc *service) GetSecretVersion(_ context.Context, req *secretmanagerpb.GetSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return onVersion(svc.s, req.GetName(), "secretmanager.versions.get", true, func(v *version) (*secretmanagerpb.SecretVersion, error) {
		return v.proto(), nil
	})
}

// ListSecretVersions lists newest first, page_size at a time; page tokens
// are offsets. Filters are not supported.
func (svc *service) ListSecretVersions(_ context.Context, req *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	if req.GetFilter() != "" {
		return nil, status.Error(codes.InvalidArgument, "gcptest does not support filter")
	}
	if req.GetPageSize() < 0 {
		return nil, status.Error(codes.InvalidArgument, "page_size must not be negative")
	}
	start := 0
	if tok := req.GetPageToken(); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			return nil, status.Errorf(codes.InvalidArgument, "invalid page_token %q", tok)
		}
		start = n
	}
	return onSecret(svc.s, req.GetParent(), "secretmanager.versions.list", true, func(sec *secret) *secretmanagerpb.ListSecretVersionsResponse {
		total := len(sec.versions)
		end := total
		if size := int(req.GetPageSize()); size > 0 && start+size < total {
			end = start + size
		}
		resp := &secretmanagerpb.ListSecretVersionsResponse{TotalSize: int32(total)}
		for i := start; i < end; i++ {
			resp.Versions = append(resp.Versions, sec.versions[total-1-i].proto())
		}
		if end < total {
			resp.NextPageToken = strconv.Itoa(end)
		}
		return resp
	})
}

func (svc *service) DisableSecretVersion(_ context.Context, req *secretmanagerpb.DisableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return svc.s.setState(req.GetName(), "secretmanager.versions.disable", secretmanagerpb.SecretVersion_DISABLED)
}

func (svc *service) EnableSecretVersion(_ context.Context, req *secretmanagerpb.EnableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return svc.s.setState(req.GetName(), "secretmanager.versions.enable", secretmanagerpb.SecretVersion_ENABLED)
}

func (svc *service) DestroySecretVersion(_ context.Context, req *secretmanagerpb.DestroySecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return svc.s.setState(req.GetName(), "secretmanager.versions.destroy", secretmanagerpb.SecretVersion_DESTROYED)
}

// setState moves a version to state; a destroyed version stays destroyed
// and its data is gone.
func (s *Server) setState(name, permission string, state secretmanagerpb.SecretVersion_State) (*secretmanagerpb.SecretVersion, error) {
	return onVersion(s, name, permission, false, func(v *version) (*secretmanagerpb.SecretVersion, error) {
		if v.state == secretmanagerpb.SecretVersion_DESTROYED {
			return nil, stateError(v)
		}
		v.state = state
		if state == secretmanagerpb.SecretVersion_DESTROYED {
			v.data, v.destroyed = nil, time.Now()
		}
		return v.proto(), nil
	})
}

// onSecret answers a call on the secret name with what fn makes of it,
// under the server's lock and after the access checks (permission; a
// metadataRead is refused by DenyMetadata too).
func onSecret[Out any](s *Server, name, permission string, metadataRead bool, fn func(*secret) Out) (Out, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.secretLocked(name, permission, metadataRead)
	if err != nil {
		var none Out
		return none, err
	}
	return fn(sec), nil
}

// onVersion answers a call on the version name with what fn makes of it,
// as onSecret does for a secret; fn may still refuse the version's state.
func onVersion[Out any](s *Server, name, permission string, metadataRead bool, fn func(*version) (Out, error)) (Out, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.versionLocked(name, permission, metadataRead)
	if err != nil {
		var none Out
		return none, err
	}
	return fn(v)
}

// secretLocked finds a secret by name after the access checks.
func (s *Server) secretLocked(name, permission string, metadataRead bool) (*secret, error) {
	if _, err := s.parseSecret(name); err != nil {
		return nil, err
	}
	if err := s.checkAccessLocked(name, permission, metadataRead); err != nil {
		return nil, err
	}
	sec := s.secrets[name]
	if sec == nil {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found.", name)
	}
	return sec, nil
}

// versionLocked finds a version by name after the access checks.
func (s *Server) versionLocked(name, permission string, metadataRead bool) (*version, error) {
	secretName, _, err := s.parseVersion(name)
	if err != nil {
		return nil, err
	}
	if err := s.checkAccessLocked(secretName, permission, metadataRead); err != nil {
		return nil, err
	}
	return s.lookupLocked(name)
}
