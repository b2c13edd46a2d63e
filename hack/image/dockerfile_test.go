package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradepulse/secret-injector/injector"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, COPY, ...
	args string
	line int
}

// parseDockerfile reads the instructions of a Dockerfile: comments and
// blank lines dropped, lines ending in a backslash joined.
func parseDockerfile(t *testing.T, file string) []instruction {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out   []instruction
		cur   strings.Builder
		start int
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		more := strings.HasSuffix(line, `\`)
		cur.WriteString(strings.TrimSuffix(line, `\`))
		cur.WriteString(" ")
		if more {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " "), line: start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The Dockerfile and the packer build the same image: the final stage is
// scratch with the contract's files, user, entrypoint and labels, and the
// builder builds the binaries as `make build` does.
func TestDockerfileMatchesContract(t *testing.T) {
	root := filepath.Join("..", "..")
	ins := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	last := -1
	for i, in := range ins {
		if in.cmd == "FROM" {
			last = i
		}
	}
	if last < 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	build, final := ins[:last], ins[last+1:]
	if ins[last].args != "scratch" {
		t.Errorf("line %d: final stage FROM %s, want scratch (no shell, nothing but the contract's files)", ins[last].line, ins[last].args)
	}

	one := func(cmd string) instruction {
		t.Helper()
		var found []instruction
		for _, in := range final {
			if in.cmd == cmd {
				found = append(found, in)
			}
		}
		if len(found) != 1 {
			t.Fatalf("final stage has %d %s instructions, want 1", len(found), cmd)
		}
		return found[0]
	}
	if u := one("USER"); u.args != User {
		t.Errorf("line %d: USER %s, want %s", u.line, u.args, User)
	}
	var entry []string
	if e := one("ENTRYPOINT"); json.Unmarshal([]byte(e.args), &entry) != nil || len(entry) != 1 || entry[0] != BinaryPath {
		t.Errorf("line %d: ENTRYPOINT %s, want [%q] (exec form)", e.line, e.args, BinaryPath)
	}
	if w := one("WORKDIR"); w.args != WorkingDir {
		t.Errorf("line %d: WORKDIR %s, want %s", w.line, w.args, WorkingDir)
	}
	if e := one("ENV"); e.args != "SSL_CERT_FILE="+CAPath {
		t.Errorf("line %d: ENV %s, want SSL_CERT_FILE=%s", e.line, e.args, CAPath)
	}

	// Every file of the contract is copied to its path; the binaries 0755,
	// passwd and group from the files the packer embeds.
	copies := map[string]instruction{}
	for _, in := range final {
		if in.cmd == "COPY" {
			f := strings.Fields(in.args)
			copies[f[len(f)-1]] = in
		}
	}
	wantCopies := map[string][]string{
		BinaryPath:      {"--from=build", "--chmod=0755", "/out/secret-injector "},
		AgentBinaryPath: {"--from=build", "--chmod=0755", "/out/" + AgentBinaryName + " "},
		CAPath:          {"--from=build", HostCAFile},
		PasswdPath:      {rootfsDir + PasswdPath},
		GroupPath:       {rootfsDir + GroupPath},
	}
	for dst, parts := range wantCopies {
		in, ok := copies[dst]
		if !ok {
			t.Errorf("final stage does not COPY anything to %s", dst)
			continue
		}
		for _, p := range parts {
			if !strings.Contains(in.args, p) {
				t.Errorf("line %d: COPY %s lacks %q", in.line, in.args, p)
			}
		}
		delete(copies, dst)
	}
	for dst, in := range copies {
		t.Errorf("line %d: COPY to %s is not in the packer's contract", in.line, dst)
	}
	for _, in := range final {
		switch in.cmd {
		case "RUN", "ADD", "CMD", "VOLUME", "EXPOSE", "SHELL", "HEALTHCHECK":
			t.Errorf("line %d: %s in the final stage: the packer's image has no such thing", in.line, in.cmd)
		}
	}

	label := strings.Join(func() []string {
		var l []string
		for _, in := range final {
			if in.cmd == "LABEL" {
				l = append(l, in.args)
			}
		}
		return l
	}(), " ")
	for _, want := range []string{
		`org.opencontainers.image.source="` + SourceURL + `"`,
		`org.opencontainers.image.title="secret-injector"`,
		"org.opencontainers.image.version=",
		"org.opencontainers.image.revision=",
	} {
		if !strings.Contains(label, want) {
			t.Errorf("final stage labels lack %s", want)
		}
	}

	// The builder: static, reproducible paths, the version stamped, the
	// target platform's GOOS and GOARCH.
	var goBuild string
	for _, in := range build {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			goBuild = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=$TARGETOS", "GOARCH=$TARGETARCH", "-trimpath", "-X github.com/tradepulse/secret-injector/internal/buildinfo.version=${VERSION}", "-X github.com/tradepulse/secret-injector/internal/buildinfo.commit=${REVISION}", "-X github.com/tradepulse/secret-injector/internal/buildinfo.date=${SOURCE_DATE_EPOCH}", "-o /out/ ", "./cmd/secret-injector ", "./cmd/" + AgentBinaryName} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("the builder's go build (%q) lacks %s", goBuild, want)
		}
	}
}

// The files the Dockerfile copies are the packer's: the embedded rootfs
// is the one at rootfsDir.
func TestRootfsDir(t *testing.T) {
	for _, p := range []string{PasswdPath, GroupPath} {
		onDisk, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(rootfsDir+p)))
		if err != nil {
			t.Fatal(err)
		}
		embedded, err := rootfs.ReadFile("rootfs" + p)
		if err != nil {
			t.Fatal(err)
		}
		if string(onDisk) != string(embedded) {
			t.Errorf("%s differs from the embedded copy", p)
		}
	}
}

// The injector runs the agent as the agent-only binary, as this user by
// default.
func TestInjectorAgreesWithContract(t *testing.T) {
	if injector.AgentBinary != AgentBinaryPath {
		t.Errorf("the injector runs %s, the image has the agent binary at %s", injector.AgentBinary, AgentBinaryPath)
	}
	if want := "65532:65532"; User != want || injector.DefaultAgentUID != 65532 {
		t.Errorf("image user %s, injector's default agent uid %d; want both 65532", User, injector.DefaultAgentUID)
	}
}
