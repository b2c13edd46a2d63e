// Package aws reads secrets from AWS Secrets Manager with the real SDK
// (aws-sdk-go-v2) and the default credential chain, so that the agent
// authenticates as the pod's own identity: IRSA web identity, EKS Pod
// Identity, or the environment.
//
// References name a secret by name or ARN, optionally followed by one
// selector after '#':
//
//	tradepulse/postgres-tls                       the AWSCURRENT version
//	tradepulse/postgres-tls#AWSPENDING            the version labelled AWSPENDING
//	tradepulse/postgres-tls#version-id=<uuid>     exactly that version
//	arn:aws:secretsmanager:…:secret:NAME-AbCdEf   by ARN, same selectors
//
// A SecretString is returned as its bytes, a SecretBinary as is. The
// version is the Secrets Manager VersionId.
//
// The pod's role needs secretsmanager:GetSecretValue (and kms:Decrypt on a
// customer-managed key) to read, and secretsmanager:DescribeSecret for the
// sidecar's cheap version checks.
package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// DefaultTimeout bounds each call whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// Options configure the backend.
type Options struct {
	// Region is the AWS region; empty means the environment's or shared
	// config's (AWS_REGION).
	Region string
	// Endpoint overrides the service's base endpoint (tests, VPC
	// endpoints); empty means the region's public one.
	Endpoint string
	// Timeout bounds each call whose context has no deadline; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// RoleARN, when set, is assumed with STS AssumeRole on top of the
	// default chain's credentials (cross-account access); the temporary
	// credentials are cached and refreshed before they expire.
	RoleARN string
	// SessionName is the STS session name for RoleARN (see SessionName);
	// empty means SessionName("", "").
	SessionName string
}

// api is the part of the Secrets Manager client the backend uses; the SDK
// stays behind it.
type api interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

// Backend reads secrets from Secrets Manager. It implements
// backend.Backend and backend.Versioner.
type Backend struct {
	api     api
	log     *slog.Logger
	timeout time.Duration
	// roleARN is the assumed role, webIdentityRole the IRSA role
	// (AWS_ROLE_ARN): what an STS failure names.
	roleARN, webIdentityRole string
}

var (
	_ backend.Backend   = (*Backend)(nil)
	_ backend.Versioner = (*Backend)(nil)
)

// New builds a client with the default credential chain
// (config.LoadDefaultConfig). Credentials are resolved on first use, so
// New does not call AWS. The SDK does not retry: one Fetch or Version is
// one request, and the agent's backoff with jitter governs retries.
func New(ctx context.Context, opts Options, log *slog.Logger) (*Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	load := []func(*config.LoadOptions) error{config.WithLogger(sdkLogger{log})}
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("aws backend: load configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("aws backend: no region: set the backend's region or AWS_REGION")
	}
	if opts.RoleARN != "" {
		session := opts.SessionName
		if session == "" {
			session = SessionName("", "")
		}
		assumeRole(&cfg, opts.RoleARN, session)
	}
	client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		o.Retryer = aws.NopRetryer{}
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
	})
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	log.Info("aws backend ready", "region", cfg.Region, "endpoint", opts.Endpoint, "assume_role", opts.RoleARN, "session", opts.SessionName)
	return &Backend{api: client, log: log, timeout: timeout, roleARN: opts.RoleARN, webIdentityRole: os.Getenv("AWS_ROLE_ARN")}, nil
}

// Fetch reads the value ref selects with one GetSecretValue.
func (b *Backend) Fetch(ctx context.Context, ref string) (backend.Secret, error) {
	t, err := parseRef(ref)
	if err != nil {
		return backend.Secret{}, fmt.Errorf("aws secret %q: invalid reference: %w", ref, err)
	}
	ctx, cancel := b.deadline(ctx)
	defer cancel()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(t.secretID)}
	if t.versionID != "" {
		in.VersionId = aws.String(t.versionID)
	}
	if t.stage != "" {
		in.VersionStage = aws.String(t.stage)
	}
	out, err := b.api.GetSecretValue(ctx, in)
	if err != nil {
		err = b.classify(ref, "GetSecretValue", err)
		b.log.Debug("fetch failed", "ref", ref, "error", err)
		return backend.Secret{}, err
	}
	version := aws.ToString(out.VersionId)
	var data []byte
	switch {
	case out.SecretBinary != nil:
		data = out.SecretBinary
	case out.SecretString != nil:
		data = []byte(*out.SecretString)
	default:
		return backend.Secret{}, fmt.Errorf("aws secret %q: GetSecretValue returned neither SecretString nor SecretBinary", ref)
	}
	if version == "" {
		return backend.Secret{}, fmt.Errorf("aws secret %q: GetSecretValue returned no VersionId", ref)
	}
	b.log.Debug("fetched secret", "ref", ref, "version", version)
	return backend.Secret{Data: data, Version: version}, nil
}

// Version tells the VersionId ref selects without reading the value: one
// DescribeSecret, whose VersionIdsToStages maps versions to their staging
// labels. A secret scheduled for deletion is reported gone, as reading it
// would be.
//
// A pinned version id is returned as is once the secret is found: a
// version that lost all its labels no longer appears in
// VersionIdsToStages yet can still be read, so its absence there proves
// nothing; Fetch reports a pinned version that does not exist.
func (b *Backend) Version(ctx context.Context, ref string) (string, error) {
	t, err := parseRef(ref)
	if err != nil {
		return "", fmt.Errorf("aws secret %q: invalid reference: %w", ref, err)
	}
	ctx, cancel := b.deadline(ctx)
	defer cancel()
	out, err := b.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(t.secretID)})
	if err != nil {
		err = b.classify(ref, "DescribeSecret", err)
		b.log.Debug("version check failed", "ref", ref, "error", err)
		return "", err
	}
	if out.DeletedDate != nil {
		return "", fmt.Errorf("aws secret %q: %w (scheduled for deletion on %s)", ref, backend.ErrNotFound, out.DeletedDate.UTC().Format(time.RFC3339))
	}
	if t.versionID != "" {
		return t.versionID, nil
	}
	stage := t.wantStage()
	for id, stages := range out.VersionIdsToStages {
		for _, s := range stages {
			if s == stage {
				return id, nil
			}
		}
	}
	return "", fmt.Errorf("aws secret %q: %w: no version carries staging label %s", ref, backend.ErrNotFound, stage)
}

// classify explains an SDK error: an STS refusal names the role,
// anything else is the service's (see classify).
func (b *Backend) classify(ref, op string, err error) error {
	if e, ok := b.classifySTS(ref, err); ok {
		return e
	}
	return classify(ref, op, err)
}

// deadline bounds ctx by the backend's timeout unless it has a deadline.
func (b *Backend) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, b.timeout)
}
