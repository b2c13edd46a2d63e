//go:build !agent_nogcp

package agentcmd

import (
	"context"
	"log/slog"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/gcp"
	"github.com/tradepulse/secret-injector/agent/config"
)

func init() { openers[config.BackendGCP] = openGCP }

func openGCP(ctx context.Context, cfg *config.Config, _ backend.VersionKey, log *slog.Logger) (backend.Backend, error) {
	g := orZero(cfg.Backend.GCP)
	opts := gcp.Options{Project: g.Project, Endpoint: g.Endpoint}
	if g.Insecure {
		opts.ClientOptions = []option.ClientOption{
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		}
	}
	return gcp.New(ctx, opts, log)
}
