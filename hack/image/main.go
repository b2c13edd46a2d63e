// Command image packs prebuilt static binaries into a container image and
// writes it as an OCI image layout archive: a tar holding oci-layout,
// index.json and blobs/, the form `ctr -n k8s.io images import`, `docker
// load`, `skopeo copy oci-archive:` and `crane push` take. No Docker engine
// is involved, and no manifest or layout format is written by hand: the
// image is assembled with go-containerregistry (empty, mutate, tarball) and
// laid out with its layout package.
//
// The main image, one platform per binary, is an index:
//
//	go run ./hack/image --ref ghcr.io/tradepulse/secret-injector:v0.1.0 \
//	  --out bin/secret-injector-image.tar \
//	  --platform linux/amd64=bin/linux-amd64/secret-injector \
//	  --platform linux/arm64=bin/linux-arm64/secret-injector \
//	  --also secret-injector-agent
//
// --also names another binary, taken from beside each platform's binary
// (bin/linux-amd64/secret-injector-agent) and put beside the entrypoint
// (/usr/local/bin/secret-injector-agent), each in a layer of its own.
//
// A small program of the e2e bed is one platform with its own entrypoint
// and user:
//
//	go run ./hack/image --ref localhost/secret-injector/pause:v1 \
//	  --out bin/pause-image.tar --platform linux/amd64=bin/linux-amd64/pause \
//	  --entrypoint /pause --user 65535:65535
//
// What every image holds is the contract in contract.go; the repository's
// Dockerfile builds the same thing with BuildKit, and a test keeps the two
// in line.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// options is what the flags say.
type options struct {
	ref        string
	out        string
	platforms  []platformBinary
	also       []string // more binaries by name, beside each platform's and the entrypoint
	entrypoint string
	user       string
	caFile     string
	epoch      time.Time
	labels     map[string]string
}

// platformBinary is one --platform os/arch[/variant]=path.
type platformBinary struct {
	platform v1.Platform
	path     string
}

type platformFlag []platformBinary

func (p *platformFlag) String() string {
	parts := make([]string, len(*p))
	for i, pb := range *p {
		parts[i] = pb.platform.String() + "=" + pb.path
	}
	return strings.Join(parts, ",")
}

func (p *platformFlag) Set(s string) error {
	pb, err := parsePlatform(s)
	if err != nil {
		return err
	}
	for _, have := range *p {
		if have.platform.Equals(pb.platform) {
			return fmt.Errorf("platform %s given twice", pb.platform)
		}
	}
	*p = append(*p, pb)
	return nil
}

// parsePlatform parses os/arch[/variant]=path.
func parsePlatform(s string) (platformBinary, error) {
	plat, file, ok := strings.Cut(s, "=")
	if !ok || file == "" {
		return platformBinary{}, fmt.Errorf("%q: want os/arch[/variant]=path/to/binary", s)
	}
	parts := strings.Split(plat, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return platformBinary{}, fmt.Errorf("%q: platform %q is not os/arch[/variant]", s, plat)
	}
	if parts[0] != "linux" {
		return platformBinary{}, fmt.Errorf("%q: only linux images are built (the image has no OS of its own)", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return platformBinary{platform: p, path: file}, nil
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o         options
		platforms platformFlag
		epochStr  string
		version   string
		revision  string
		title     string
		source    string
		licenses  string
	)
	fs.StringVar(&o.ref, "ref", "", "full image reference, registry included (ghcr.io/tradepulse/secret-injector:v0.1.0); written into index.json for ctr import")
	fs.StringVar(&o.out, "out", "", "the OCI layout archive to write (bin/secret-injector-image.tar)")
	fs.Var(&platforms, "platform", "os/arch[/variant]=path of a static binary; repeat for a multi-platform index")
	fs.Func("also", "name of another binary, found beside each --platform binary and put beside the entrypoint (repeatable)", func(v string) error {
		if v == "" || v == "." || v == ".." || strings.ContainsAny(v, `/\`) {
			return fmt.Errorf("%q: want a file name", v)
		}
		if slices.Contains(o.also, v) {
			return fmt.Errorf("%s given twice", v)
		}
		o.also = append(o.also, v)
		return nil
	})
	fs.StringVar(&o.entrypoint, "entrypoint", BinaryPath, "absolute path of the binary in the image, and the image's entrypoint")
	fs.StringVar(&o.user, "user", User, "uid:gid the image runs as")
	fs.StringVar(&o.caFile, "ca", HostCAFile, "CA bundle copied to "+CAPath)
	fs.StringVar(&epochStr, "source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Unix time of every file and of the image (default $SOURCE_DATE_EPOCH, else 0): the same inputs give the same bytes")
	fs.StringVar(&version, "version", "", "org.opencontainers.image.version label (default: the reference's tag)")
	fs.StringVar(&revision, "revision", "", "org.opencontainers.image.revision label: the source commit")
	fs.StringVar(&title, "title", "", "org.opencontainers.image.title label (default: the entrypoint's base name)")
	fs.StringVar(&source, "source", SourceURL, "org.opencontainers.image.source label")
	fs.StringVar(&licenses, "licenses", "", "org.opencontainers.image.licenses label (SPDX expression), if any")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	o.platforms = platforms

	var problems []string
	if o.ref == "" {
		problems = append(problems, "--ref is required")
	}
	if o.out == "" {
		problems = append(problems, "--out is required")
	}
	if len(o.platforms) == 0 {
		problems = append(problems, "at least one --platform os/arch=binary is required")
	}
	if !path.IsAbs(o.entrypoint) || path.Clean(o.entrypoint) != o.entrypoint || o.entrypoint == "/" {
		problems = append(problems, fmt.Sprintf("--entrypoint %q: want a clean absolute file path", o.entrypoint))
	}
	for _, name := range o.also {
		if name == path.Base(o.entrypoint) {
			problems = append(problems, fmt.Sprintf("--also %s is the entrypoint's own name", name))
		}
	}
	if err := checkUser(o.user); err != nil {
		problems = append(problems, err.Error())
	}
	var tag name.Tag
	if o.ref != "" {
		// Strict: the registry and the tag are spelled out, as containerd
		// stores the name (it would not find "secret-injector:v1" under
		// "docker.io/library/secret-injector:v1").
		t, err := name.NewTag(o.ref, name.StrictValidation)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--ref %q: %v", o.ref, err))
		}
		tag = t
	}
	sec := int64(0)
	if epochStr != "" {
		n, err := strconv.ParseInt(epochStr, 10, 64)
		if err != nil || n < 0 {
			problems = append(problems, fmt.Sprintf("--source-date-epoch %q: want Unix seconds", epochStr))
		}
		sec = n
	}
	if len(problems) > 0 {
		return options{}, errors.New(strings.Join(problems, "; "))
	}
	o.epoch = time.Unix(sec, 0).UTC()

	if version == "" {
		version = tag.TagStr()
	}
	if title == "" {
		title = path.Base(o.entrypoint)
	}
	o.labels = map[string]string{
		"org.opencontainers.image.title":   title,
		"org.opencontainers.image.version": version,
		"org.opencontainers.image.source":  source,
	}
	if revision != "" {
		o.labels["org.opencontainers.image.revision"] = revision
	}
	if licenses != "" {
		o.labels["org.opencontainers.image.licenses"] = licenses
	}
	if sec > 0 {
		o.labels["org.opencontainers.image.created"] = o.epoch.Format(time.RFC3339)
	}
	return o, nil
}

// checkUser accepts uid:gid in numbers: a scratch image resolves no names
// for the runtime's runAsNonRoot check.
func checkUser(u string) error {
	uid, gid, ok := strings.Cut(u, ":")
	if ok {
		if _, err := strconv.ParseUint(uid, 10, 32); err == nil {
			if _, err := strconv.ParseUint(gid, 10, 32); err == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("--user %q: want numeric uid:gid", u)
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	res, err := pack(o, stdout)
	if err != nil {
		return err
	}
	res.print(stdout)
	return nil
}
