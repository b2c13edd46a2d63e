package aws_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"

	awsbackend "github.com/tradepulse/secret-injector/agent/backend/aws"
	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
)

// TestStagesVersionsAndARNs reads one secret through every reference form
// and checks that Version agrees with Fetch for each.
func TestStagesVersionsAndARNs(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	b, _ := newBackend(t, srv, awsbackend.Options{})
	ctx := context.Background()

	v1 := srv.Put("tradepulse/db", []byte("one"), false)
	v2 := srv.Put("tradepulse/db", []byte("two"), false)
	// A rotation in progress: the pending version leaves AWSCURRENT alone.
	pending, err := sdkClient(t, srv).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:      aws.String("tradepulse/db"),
		SecretString:  aws.String("three"),
		VersionStages: []string{"AWSPENDING"},
	})
	if err != nil {
		t.Fatal(err)
	}
	v3 := aws.ToString(pending.VersionId)
	arn := srv.ARN("tradepulse/db")
	partialARN := "arn:aws:secretsmanager:us-east-1:123456789012:secret:tradepulse/db"

	type result struct{ Data, Version, Kind string }
	tests := []struct {
		name, ref string
		want      result
	}{
		{"name", "tradepulse/db", result{"two", v2, "ok"}},
		{"current stage", "tradepulse/db#AWSCURRENT", result{"two", v2, "ok"}},
		{"previous stage", "tradepulse/db#AWSPREVIOUS", result{"one", v1, "ok"}},
		{"pending stage", "tradepulse/db#AWSPENDING", result{"three", v3, "ok"}},
		{"pinned version", "tradepulse/db#version-id=" + v1, result{"one", v1, "ok"}},
		{"full ARN", arn, result{"two", v2, "ok"}},
		{"full ARN and stage", arn + "#AWSPREVIOUS", result{"one", v1, "ok"}},
		{"partial ARN", partialARN, result{"two", v2, "ok"}},
		{"unknown stage", "tradepulse/db#CANARY", result{Kind: "not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := b.Fetch(ctx, tt.ref)
			got := result{string(s.Data), s.Version, kind(err)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Fetch(%q) (-want +got):\n%s", tt.ref, diff)
			}
			v, err := b.Version(ctx, tt.ref)
			if diff := cmp.Diff(result{Version: tt.want.Version, Kind: tt.want.Kind}, result{Version: v, Kind: kind(err)}); diff != "" {
				t.Errorf("Version(%q) disagrees with Fetch (-want +got):\n%s", tt.ref, diff)
			}
		})
	}

	t.Run("pinned version that never existed", func(t *testing.T) {
		_, err := b.Fetch(ctx, "tradepulse/db#version-id=00000000-0000-4000-8000-000000000000")
		if kind(err) != "not found" {
			t.Errorf("Fetch: %v, want not found", err)
		}
	})

	t.Run("pinned version outlives its labels", func(t *testing.T) {
		srv.Put("tradepulse/db", []byte("four"), false) // v1 loses AWSPREVIOUS
		ref := "tradepulse/db#version-id=" + v1
		s, err := b.Fetch(ctx, ref)
		if err != nil || string(s.Data) != "one" || s.Version != v1 {
			t.Fatalf("Fetch(%q) = %q %q, %v; want one %s", ref, s.Data, s.Version, err, v1)
		}
		if v, err := b.Version(ctx, ref); err != nil || v != v1 {
			t.Fatalf("Version(%q) = %q, %v; want %s", ref, v, err, v1)
		}
		s, err = b.Fetch(ctx, "tradepulse/db#AWSPREVIOUS")
		if err != nil || s.Version != v2 {
			t.Fatalf("AWSPREVIOUS after another put = %q, %v; want %s", s.Version, err, v2)
		}
	})
}

// TestScheduledDeletionAndRestore follows a secret through DeleteSecret
// with a recovery window and RestoreSecret, through the SDK.
func TestScheduledDeletionAndRestore(t *testing.T) {
	srv := awstest.NewServer()
	defer srv.Close()
	b, _ := newBackend(t, srv, awsbackend.Options{})
	c := sdkClient(t, srv)
	ctx := context.Background()
	const ref = "tradepulse/exchanges/kraken/api-key"
	version := sdkPut(t, c, ref, []byte("k1"))

	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(ref), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	_, err := b.Fetch(ctx, ref)
	if kind(err) != "not found" {
		t.Errorf("Fetch of a secret scheduled for deletion: %v, want not found", err)
	}
	if _, err := b.Version(ctx, ref); kind(err) != "not found" {
		t.Errorf("Version of a secret scheduled for deletion: %v, want not found", err)
	}

	if _, err := c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String(ref)}); err != nil {
		t.Fatal(err)
	}
	s, err := b.Fetch(ctx, ref)
	if err != nil || string(s.Data) != "k1" || s.Version != version {
		t.Fatalf("Fetch after restore = %q %q, %v; want k1 %s", s.Data, s.Version, err, version)
	}
	if v, err := b.Version(ctx, ref); err != nil || v != version {
		t.Fatalf("Version after restore = %q, %v; want %s", v, err, version)
	}
}
