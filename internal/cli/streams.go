package cli

import (
	"context"
	"io"
	"os"
)

type streamsKey struct{}

type streams struct{ stdout, stderr io.Writer }

// withStreams gives the commands Main runs its stdout and stderr, so that
// a test of Main sees what a command prints.
func withStreams(ctx context.Context, stdout, stderr io.Writer) context.Context {
	return context.WithValue(ctx, streamsKey{}, streams{stdout, stderr})
}

// Stdout is where a command run by Program.Main writes its results:
// Main's stdout, or os.Stdout outside Main.
func Stdout(ctx context.Context) io.Writer {
	if s, ok := ctx.Value(streamsKey{}).(streams); ok {
		return s.stdout
	}
	return os.Stdout
}

// Stderr is where a command run by Program.Main writes logs, progress and
// warnings: Main's stderr, or os.Stderr outside Main.
func Stderr(ctx context.Context) io.Writer {
	if s, ok := ctx.Value(streamsKey{}).(streams); ok {
		return s.stderr
	}
	return os.Stderr
}
