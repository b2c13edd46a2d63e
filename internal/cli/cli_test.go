package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// testProgram has a command with flags and arguments, one that fails, and
// one that parses its own arguments.
func testProgram(got *[]string) Program {
	return Program{Name: "prog", Summary: "a test program", Commands: map[string]Command{
		"greet": {Summary: "greet someone", Args: "[NAME...]", Setup: func(fs *pflag.FlagSet) RunFunc {
			var loud bool
			var n int
			var out string
			fs.BoolVar(&loud, "loud", false, "shout")
			fs.IntVarP(&n, "times", "t", 1, "how often")
			OutputVar(fs, &out, "text", "json")
			logs := AddLogFlags(fs, "json")
			return func(ctx context.Context, args []string) error {
				*got = append([]string{out, logs.Level, logs.Format}, args...)
				if n < 1 {
					return Usage(errors.New("--times must be at least 1"))
				}
				_, err := Stdout(ctx).Write([]byte("hello\n"))
				return err
			}
		}},
		"fail": {Summary: "find a problem", Setup: func(*pflag.FlagSet) RunFunc {
			return func(context.Context, []string) error { return errors.New("secret db: not ok") }
		}},
		"raw": {Summary: "parse its own arguments", Run: func(_ context.Context, args []string) error {
			*got = args
			if len(args) > 0 && args[0] == "-h" {
				return flag.ErrHelp
			}
			return nil
		}},
	}}
}

func runProgram(t *testing.T, args ...string) (code int, stdout, stderr string, got []string) {
	t.Helper()
	var out, errOut strings.Builder
	code = testProgram(&got).Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String(), got
}

func TestExitCodesAndStreams(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     string   // contained, "" for empty
		stderr     []string // each contained; nil for empty
		wantCalled []string
	}{
		{name: "ok", args: []string{"greet", "--loud", "-t", "2", "-o", "json", "ann", "bob"}, code: 0, stdout: "hello",
			wantCalled: []string{"json", "info", "json", "ann", "bob"}},
		{name: "flags after arguments", args: []string{"greet", "ann", "--log-level=debug", "--log-format", "text"}, code: 0, stdout: "hello",
			wantCalled: []string{"text", "debug", "text", "ann"}},
		{name: "help on stdout", args: []string{"greet", "--help"}, code: 0, stdout: "Usage:\n  prog greet [NAME...] [flags]"},
		{name: "-h", args: []string{"greet", "-h"}, code: 0, stdout: "-t, --times int"},
		{name: "program help", args: []string{"--help"}, code: 0, stdout: "greet       greet someone"},
		{name: "help command", args: []string{"help", "greet"}, code: 0, stdout: "--loud"},
		{name: "unknown flag", args: []string{"greet", "--lound"}, code: 2,
			stderr: []string{"prog greet: unknown flag: --lound", "Run 'prog greet --help' for usage."}},
		{name: "single-dash long flag", args: []string{"greet", "-loud"}, code: 2, stderr: []string{"unknown shorthand flag: 'l' in -loud"}},
		{name: "bad flag value", args: []string{"greet", "--times", "many"}, code: 2, stderr: []string{`invalid argument "many" for "-t, --times" flag`}},
		{name: "bad enum value", args: []string{"greet", "-o", "xml"}, code: 2, stderr: []string{`invalid argument "xml" for "-o, --output" flag: want text or json`}},
		{name: "bad log level", args: []string{"greet", "--log-level", "loud"}, code: 2, stderr: []string{`"--log-level" flag: want debug, info, warn or error`}},
		{name: "flag without its value", args: []string{"greet", "--times"}, code: 2, stderr: []string{"flag needs an argument: --times"}},
		{name: "usage error from the command", args: []string{"greet", "-t", "0"}, code: 2,
			stderr: []string{"prog greet: --times must be at least 1", "Run 'prog greet --help'"}, wantCalled: []string{"text", "info", "json"}},
		{name: "argument to a command without", args: []string{"fail", "x"}, code: 2, stderr: []string{`unexpected argument "x": fail takes flags only`}},
		{name: "failure", args: []string{"fail"}, code: 1, stderr: []string{"prog fail: secret db: not ok"}},
		{name: "unknown command", args: []string{"gret"}, code: 2, stderr: []string{`prog: unknown command "gret"; did you mean greet?`, "Run 'prog --help' for usage."}},
		{name: "no command", args: nil, code: 2, stderr: []string{"prog: a command is required"}},
		{name: "unknown flag of the program", args: []string{"--verbose"}, code: 2, stderr: []string{"unknown flag: --verbose"}},
		{name: "raw arguments as given", args: []string{"raw", "-mode", "init", "--x=1"}, code: 0, wantCalled: []string{"-mode", "init", "--x=1"}},
		{name: "raw command's own help", args: []string{"raw", "-h"}, code: 0, wantCalled: []string{"-h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr, got := runProgram(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			if tc.stdout == "" && stdout != "" || !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout %q, want it to contain %q", stdout, tc.stdout)
			}
			if tc.stderr == nil && stderr != "" {
				t.Errorf("stderr %q, want none", stderr)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q, want it to contain %q", stderr, want)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.wantCalled, " ") {
				t.Errorf("command got %q, want %q", got, tc.wantCalled)
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	code, stdout, stderr, _ := runProgram(t, "version", "-o", "json")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, stdout)
	}
	for _, k := range []string{"version", "commit", "buildDate", "goVersion", "platform"} {
		if v[k] == "" {
			t.Errorf("version -o json has no %s: %s", k, stdout)
		}
	}
	if !strings.HasPrefix(v["goVersion"], "go") {
		t.Errorf("goVersion %q", v["goVersion"])
	}
	code, stdout, _, _ = runProgram(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "prog "+v["version"]+" (commit "+v["commit"]) {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "__start_prog", "zsh": "#compdef prog", "fish": "complete -c prog",
	} {
		t.Run(shell, func(t *testing.T) {
			code, stdout, stderr, _ := runProgram(t, "completion", shell)
			if code != 0 || !strings.Contains(stdout, want) {
				t.Errorf("exit %d, stderr %q; script lacks %q", code, stderr, want)
			}
		})
	}
	// What the scripts ask the binary: the flags of a command.
	code, stdout, _, _ := runProgram(t, "__complete", "greet", "--")
	if code != 0 || !strings.Contains(stdout, "--times") || !strings.Contains(stdout, "--log-level") {
		t.Errorf("__complete greet --: exit %d\n%s", code, stdout)
	}
	code, stdout, _, _ = runProgram(t, "__complete", "greet", "--log-level", "")
	if code != 0 || !strings.Contains(stdout, "debug") {
		t.Errorf("__complete greet --log-level: exit %d\n%s", code, stdout)
	}
}
