package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = ""

func runVersion(_ context.Context, _ []string) error {
	fmt.Printf("secret-injector %s (%s)\n", buildVersion(), runtime.Version())
	return nil
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
