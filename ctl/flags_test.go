package ctl

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/internal/cli"
)

func TestParseOptions(t *testing.T) {
	base := *defaultOptions()
	with := func(f func(*Options)) Options { o := base; f(&o); return o }
	for _, tc := range []struct {
		name string
		args []string
		want Options
	}{
		{name: "defaults", want: base},
		{name: "short flags", args: []string{"-n", "trading", "-l", "app=api", "-o", "json"},
			want: with(func(o *Options) { o.Namespace, o.Selector, o.Output = "trading", "app=api", OutputJSON })},
		{name: "long flags with =", args: []string{"--namespace=trading", "--selector=app in (api,web)", "--output=json", "--secret=db",
			"--timeout=30s", "--concurrency=3", "--kubeconfig=/k", "--context=prod"},
			want: with(func(o *Options) {
				o.Namespace, o.Selector, o.Output, o.Secret = "trading", "app in (api,web)", OutputJSON, "db"
				o.Timeout, o.Concurrency, o.Kubeconfig, o.Context = 30*time.Second, 3, "/k", "prod"
			})},
		{name: "wide", args: []string{"-o", "wide"}, want: with(func(o *Options) { o.Output = OutputWide })},
		{name: "yaml", args: []string{"--output=yaml"}, want: with(func(o *Options) { o.Output = OutputYAML })},
		{name: "log flags", args: []string{"--log-level=debug", "--log-format", "json"},
			want: with(func(o *Options) { o.Log = cli.LogOptions{Level: "debug", Format: "json"} })},
		{name: "all namespaces", args: []string{"-A"}, want: with(func(o *Options) { o.AllNamespaces = true })},
		{name: "pod names after flags", args: []string{"-n", "trading", "api-1", "api-2"},
			want: with(func(o *Options) { o.Namespace, o.Pods = "trading", []string{"api-1", "api-2"} })},
		{name: "--dry-run", args: []string{"--dry-run"}, want: with(func(o *Options) { o.DryRun = true })},
		{name: "--dry-run=client", args: []string{"--dry-run=client"}, want: with(func(o *Options) { o.DryRun = true })},
		{name: "--dry-run=none", args: []string{"--dry-run=none"}, want: base},
		{name: "--dry-run does not eat a pod name", args: []string{"--dry-run", "api-1"},
			want: with(func(o *Options) { o.DryRun, o.Pods = true, []string{"api-1"} })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOptions("refresh", tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("options (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{name: "output", args: []string{"-o", "xml"}, want: `invalid argument "xml" for "-o, --output" flag: want table, wide, json or yaml`},
		{name: "log level", args: []string{"--log-level=trace"}, want: `invalid argument "trace" for "--log-level" flag`},
		{name: "concurrency", args: []string{"--concurrency", "0"}, want: "--concurrency 0: want at least 1"},
		{name: "timeout", args: []string{"--timeout", "0s"}, want: "--timeout 0s: want a positive duration"},
		{name: "selector", args: []string{"-l", "a=(b"}, want: `--selector "a=(b"`},
		{name: "names across namespaces", args: []string{"-A", "api-1"}, want: "pod names need one namespace"},
		{name: "server dry run", args: []string{"--dry-run=server"}, want: `"server" is not supported`},
		{name: "unknown flag", args: []string{"--watch"}, want: "unknown flag: --watch"},
		{name: "several at once", args: []string{"--timeout=-1s", "--concurrency=-1"}, want: `--concurrency -1: want at least 1; --timeout -1s: want a positive duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOptions("status", tc.args, io.Discard)
			if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrUsage containing %q", err, tc.want)
			}
		})
	}
}

func TestHelpAndUnknownVerb(t *testing.T) {
	var stderr strings.Builder
	err := Main(context.Background(), "revoke", []string{"-h"}, io.Discard, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: error %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"usage: secret-injector revoke [POD...] [flags]", "-A, --all-namespaces", "--dry-run", "secrets.tradepulse.io/status: injected"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, stderr.String())
		}
	}
	if err := Main(context.Background(), "rollout", nil, io.Discard, io.Discard); !errors.Is(err, ErrUsage) {
		t.Errorf("unknown verb: error %v, want ErrUsage", err)
	}
}
