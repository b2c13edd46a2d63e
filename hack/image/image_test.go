package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const testRef = "ghcr.io/tradepulse/secret-injector:v0.1.0"

// fakeELF is a minimal 64-bit little-endian ELF executable header for
// machine m, followed by payload; interp adds a PT_INTERP program header,
// as a dynamically linked binary has.
func fakeELF(t *testing.T, m elf.Machine, interp bool, payload string) []byte {
	t.Helper()
	h := elf.Header64{
		Type:    uint16(elf.ET_EXEC),
		Machine: uint16(m),
		Version: uint32(elf.EV_CURRENT),
		Ehsize:  64,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	if interp {
		h.Phoff, h.Phentsize, h.Phnum = 64, 56, 1
	}
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	if interp {
		if err := binary.Write(&buf, binary.LittleEndian, elf.Prog64{Type: uint32(elf.PT_INTERP)}); err != nil {
			t.Fatal(err)
		}
	}
	buf.WriteString(payload)
	return buf.Bytes()
}

// fixture writes fake binaries for amd64 and arm64 (secret-injector and,
// beside it, secret-injector-agent) and a fake CA bundle, and returns the
// flags of a two-platform build into dir/image.tar, as `make image` calls it.
func fixture(t *testing.T) (args []string, bins, agents map[string][]byte, ca []byte) {
	t.Helper()
	dir := t.TempDir()
	bins = map[string][]byte{
		"amd64": fakeELF(t, elf.EM_X86_64, false, "amd64 binary"),
		"arm64": fakeELF(t, elf.EM_AARCH64, false, "arm64 binary"),
	}
	agents = map[string][]byte{
		"amd64": fakeELF(t, elf.EM_X86_64, false, "amd64 agent"),
		"arm64": fakeELF(t, elf.EM_AARCH64, false, "arm64 agent"),
	}
	ca = []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	args = []string{"--ref", testRef, "--out", filepath.Join(dir, "image.tar"), "--ca", caFile,
		"--source-date-epoch", "1700000000", "--revision", "abc123"}
	for _, arch := range slices.Sorted(maps.Keys(bins)) { // flag order is index order
		b := bins[arch]
		p := filepath.Join(dir, arch, "secret-injector")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, arch, AgentBinaryName), agents[arch], 0o755); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--platform", "linux/"+arch+"="+p)
	}
	args = append(args, "--also", AgentBinaryName)
	return args, bins, agents, ca
}

func outOf(args []string) string {
	for i, a := range args {
		if a == "--out" {
			return args[i+1]
		}
	}
	return ""
}

// openArchive unpacks an OCI layout archive and returns its layout.
func openArchive(t *testing.T, archive string) layout.Path {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 1700000000 {
			t.Errorf("archive entry %s: owner %d:%d, mtime %d; want 0:0 and SOURCE_DATE_EPOCH", h.Name, h.Uid, h.Gid, h.ModTime.Unix())
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("archive entry %s has type %c", h.Name, h.Typeflag)
		}
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatalf("not an OCI layout: %v", err)
	}
	return lp
}

// imageFiles reads an image's flattened file system: headers and contents.
func imageFiles(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimSuffix(h.Name, "/")
		hdrs[name] = h
		if h.Typeflag == tar.TypeReg {
			if data[name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestMultiPlatformArchive(t *testing.T) {
	args, bins, agents, ca := fixture(t)
	var out bytes.Buffer
	if err := run(args, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"linux/amd64", "linux/arm64", "compressed", "uncompressed", testRef} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report does not mention %q:\n%s", want, out.String())
		}
	}

	lp := openArchive(t, outOf(args))
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 {
		t.Fatalf("index.json has %d manifests, want 1 (the multi-platform index)", len(tm.Manifests))
	}
	d := tm.Manifests[0]
	if d.MediaType != types.OCIImageIndex {
		t.Errorf("index.json points to a %s, want an OCI image index", d.MediaType)
	}
	// ctr images import names the image from these.
	wantAnn := map[string]string{AnnotationContainerdName: testRef, AnnotationRefName: testRef}
	if diff := cmp.Diff(wantAnn, d.Annotations); diff != "" {
		t.Errorf("index.json annotations (-want +got):\n%s", diff)
	}

	ii, err := top.ImageIndex(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var archs []string
	for _, m := range im.Manifests {
		if m.Platform == nil || m.Platform.OS != "linux" {
			t.Fatalf("manifest %s has platform %v", m.Digest, m.Platform)
		}
		arch := m.Platform.Architecture
		archs = append(archs, arch)
		if m.MediaType != types.OCIManifestSchema1 {
			t.Errorf("%s: manifest media type %s", arch, m.MediaType)
		}
		img, err := ii.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(arch, func(t *testing.T) { checkImage(t, img, arch, bins[arch], agents[arch], ca) })
	}
	if diff := cmp.Diff([]string{"amd64", "arm64"}, archs); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
}

func checkImage(t *testing.T, img v1.Image, arch string, bin, agent, ca []byte) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != arch {
		t.Errorf("config platform %s/%s, want linux/%s", cf.OS, cf.Architecture, arch)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("User = %q, want 65532:65532", c.User)
	}
	if diff := cmp.Diff([]string{"/usr/local/bin/secret-injector"}, c.Entrypoint); diff != "" {
		t.Errorf("Entrypoint (-want +got):\n%s", diff)
	}
	if len(c.Cmd) != 0 || c.WorkingDir != "/" {
		t.Errorf("Cmd %q, WorkingDir %q; want none and /", c.Cmd, c.WorkingDir)
	}
	if !contains(c.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") {
		t.Errorf("Env %q has no SSL_CERT_FILE", c.Env)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.title":    "secret-injector",
		"org.opencontainers.image.version":  "v0.1.0",
		"org.opencontainers.image.revision": "abc123",
		"org.opencontainers.image.source":   "https://github.com/tradepulse/secret-injector",
		"org.opencontainers.image.created":  "2023-11-14T22:13:20Z",
	}
	if diff := cmp.Diff(wantLabels, c.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}

	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 3 {
		t.Errorf("%d layers, want 3 (base files, binary, agent binary)", len(m.Layers))
	}
	for _, l := range m.Layers {
		if l.MediaType != types.OCILayer {
			t.Errorf("layer media type %s, want %s", l.MediaType, types.OCILayer)
		}
	}

	hdrs, data := imageFiles(t, img)
	for _, shell := range []string{"/bin/sh", "/bin/bash", "/bin/busybox", "/bin"} {
		if _, ok := hdrs[shell]; ok {
			t.Errorf("the image has %s", shell)
		}
	}
	for p, want := range map[string][]byte{BinaryPath: bin, AgentBinaryPath: agent} {
		h, ok := hdrs[p]
		if !ok {
			t.Errorf("no %s in the image", p)
			continue
		}
		if h.Typeflag != tar.TypeReg || h.Mode != 0o755 {
			t.Errorf("%s: type %c mode %o, want a regular file 0755", p, h.Typeflag, h.Mode)
		}
		if !bytes.Equal(data[p], want) {
			t.Errorf("%s is not the %s binary built for it", p, arch)
		}
	}
	if !bytes.Equal(data[CAPath], ca) {
		t.Errorf("%s is not the CA bundle", CAPath)
	}
	if !strings.Contains(string(data[PasswdPath]), "\nnonroot:x:65532:65532:") || !strings.Contains(string(data[GroupPath]), "\nnonroot:x:65532:") {
		t.Errorf("passwd/group lack nonroot 65532:\n%s%s", data[PasswdPath], data[GroupPath])
	}
	for name, h := range hdrs {
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.ModTime.Unix() != 1700000000 {
			t.Errorf("%s: owner %d:%d %q, mtime %d; want 0:0, no names, SOURCE_DATE_EPOCH", name, h.Uid, h.Gid, h.Uname, h.ModTime.Unix())
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The same inputs give the same archive, byte for byte.
func TestReproducible(t *testing.T) {
	args, _, _, _ := fixture(t)
	sum := func(out string) [32]byte {
		a := append(append([]string(nil), args...), "--out", out)
		if err := run(a, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	dir := t.TempDir()
	if sum(filepath.Join(dir, "a.tar")) != sum(filepath.Join(dir, "b.tar")) {
		t.Error("two builds of the same inputs differ")
	}
}

// A small test program: one platform, its own entrypoint and user; the
// descriptor in index.json is the image itself.
func TestSinglePlatform(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	if err := os.WriteFile(bin, fakeELF(t, elf.EM_X86_64, false, "pause"), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const ref = "localhost/secret-injector/pause:v1"
	out := filepath.Join(dir, "pause.tar")
	err := run([]string{"--ref", ref, "--out", out, "--ca", ca, "--platform", "linux/amd64=" + bin,
		"--entrypoint", "/pause", "--user", "65535:65535"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	lp := openArchiveAnyTime(t, out)
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	d := tm.Manifests[0]
	if len(tm.Manifests) != 1 || d.MediaType != types.OCIManifestSchema1 || d.Annotations[AnnotationContainerdName] != ref || d.Annotations[AnnotationRefName] != ref {
		t.Fatalf("index.json: %+v", tm.Manifests)
	}
	if d.Platform == nil || d.Platform.Architecture != "amd64" {
		t.Errorf("platform %v, want linux/amd64", d.Platform)
	}
	img, err := top.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65535:65535" || !cmp.Equal(cf.Config.Entrypoint, []string{"/pause"}) || cf.Config.Labels["org.opencontainers.image.title"] != "pause" {
		t.Errorf("config: %+v", cf.Config)
	}
	hdrs, _ := imageFiles(t, img)
	if h := hdrs["/pause"]; h == nil || h.Mode != 0o755 {
		t.Errorf("/pause: %+v", h)
	}
	if _, ok := hdrs[BinaryPath]; ok {
		t.Errorf("%s in the pause image", BinaryPath)
	}
}

// openArchiveAnyTime unpacks an archive built without an epoch (mtime 0).
func openArchiveAnyTime(t *testing.T, archive string) layout.Path {
	t.Helper()
	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.ModTime.Unix() != 0 {
			t.Errorf("%s: mtime %v, want 0 without SOURCE_DATE_EPOCH", h.Name, h.ModTime)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// index.json is plain JSON an importer reads without ggcr.
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		SchemaVersion int `json:"schemaVersion"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil || idx.SchemaVersion != 2 {
		t.Errorf("index.json: %v, schemaVersion %d", err, idx.SchemaVersion)
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	return lp
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := write("ca.crt", []byte("-----BEGIN CERTIFICATE-----\n"))
	amd := write("amd64", fakeELF(t, elf.EM_X86_64, false, "x"))
	write("arm", fakeELF(t, elf.EM_AARCH64, false, "x"))
	base := func(extra ...string) []string {
		return append([]string{"--ref", "localhost/x:v1", "--out", filepath.Join(dir, "out.tar"), "--ca", ca}, extra...)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"dynamic binary", base("--platform", "linux/amd64="+write("dyn", fakeELF(t, elf.EM_X86_64, true, "x"))), "CGO_ENABLED=0"},
		{"wrong arch", base("--platform", "linux/arm64="+amd), "not arm64"},
		{"not ELF", base("--platform", "linux/amd64="+write("script", []byte("#!/bin/sh\n"))), "not an ELF"},
		{"no CA", append(base("--platform", "linux/amd64="+amd), "--ca", filepath.Join(dir, "none")), "apt-get install ca-certificates"},
		{"ref without registry", []string{"--ref", "secret-injector:v1", "--out", "x.tar", "--platform", "linux/amd64=" + amd}, "registry"},
		{"ref without tag", []string{"--ref", "ghcr.io/tradepulse/secret-injector", "--out", "x.tar", "--platform", "linux/amd64=" + amd}, "--ref"},
		{"no platform", base(), "--platform"},
		{"platform twice", base("--platform", "linux/amd64="+amd, "--platform", "linux/amd64="+amd), "twice"},
		{"windows", base("--platform", "windows/amd64="+amd), "only linux"},
		{"user name", base("--platform", "linux/amd64="+amd, "--user", "nonroot"), "numeric"},
		{"relative entrypoint", base("--platform", "linux/amd64="+amd, "--entrypoint", "pause"), "--entrypoint"},
		{"also missing", base("--platform", "linux/amd64="+amd, "--also", "nothere"), "--also nothere"},
		{"also a path", base("--platform", "linux/amd64="+amd, "--also", "x/agent"), "want a file name"},
		{"also twice", base("--platform", "linux/amd64="+amd, "--also", "amd64", "--also", "amd64"), "twice"},
		{"also the entrypoint", base("--platform", "linux/amd64="+amd, "--also", "secret-injector"), "entrypoint's own name"},
		{"also of another arch", base("--platform", "linux/amd64="+amd, "--also", "arm"), "not amd64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := run(c.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one saying %q", err, c.want)
			}
		})
	}
}
