package agentcmd

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/aws"
	"github.com/tradepulse/secret-injector/agent/backend/env"
	"github.com/tradepulse/secret-injector/agent/backend/gcp"
	"github.com/tradepulse/secret-injector/agent/backend/vault"
	"github.com/tradepulse/secret-injector/agent/config"
)

// openBackend builds the backend the config names. key keys the versions
// of secrets that carry none of their own (env, Vault KV v1).
func openBackend(ctx context.Context, cfg *config.Config, key backend.VersionKey, log *slog.Logger) (backend.Backend, error) {
	b := cfg.Backend
	switch b.Type {
	case config.BackendEnv:
		var files []string
		if b.Env != nil {
			files = b.Env.Files
		}
		return env.New(files, key, log)
	case config.BackendGCP:
		var opts gcp.Options
		if g := b.GCP; g != nil {
			opts = gcp.Options{Project: g.Project, Endpoint: g.Endpoint}
			if g.Insecure {
				opts.ClientOptions = []option.ClientOption{
					option.WithoutAuthentication(),
					option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
				}
			}
		}
		return gcp.New(ctx, opts, log)
	case config.BackendVault:
		var opts vault.Options
		if v := b.Vault; v != nil {
			opts = vault.Options{Address: v.Address, Namespace: v.Namespace, CACert: v.CACert, Auth: v.Auth,
				AuthPath: v.AuthPath, Role: v.Role, TokenPath: v.TokenPath, RoleIDPath: v.RoleIDPath,
				SecretIDPath: v.SecretIDPath, RevokeOnShutdown: v.RevokeOnShutdown}
		}
		opts.VersionKey = key
		return vault.New(ctx, opts, log)
	case config.BackendAWS:
		var opts aws.Options
		if a := b.AWS; a != nil {
			opts = aws.Options{Region: a.Region, Endpoint: a.Endpoint}
		}
		return aws.New(ctx, opts, log)
	}
	return nil, fmt.Errorf("backend %q is not built into this binary", b.Type)
}
