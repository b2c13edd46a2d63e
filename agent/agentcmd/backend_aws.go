//go:build !agent_noaws

package agentcmd

import (
	"context"
	"log/slog"
	"os"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/aws"
	"github.com/tradepulse/secret-injector/agent/config"
)

func init() { openers[config.BackendAWS] = openAWS }

func openAWS(ctx context.Context, cfg *config.Config, _ backend.VersionKey, log *slog.Logger) (backend.Backend, error) {
	var opts aws.Options
	if a := cfg.Backend.AWS; a != nil {
		opts = aws.Options{Region: a.Region, Endpoint: a.Endpoint, RoleARN: a.RoleARN,
			SessionName: aws.SessionName(os.Getenv(config.PodNamespaceEnvVar), os.Getenv(config.PodNameEnvVar))}
	}
	return aws.New(ctx, opts, log)
}
