package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations on the one descriptor of index.json that name the image:
// containerd's importer (ctr images import) reads the first, skopeo and
// the OCI tools the second; both hold the full reference.
const (
	AnnotationContainerdName = "io.containerd.image.name"
	AnnotationRefName        = "org.opencontainers.image.ref.name"
)

// file is one regular file of a layer, at an absolute path in the image.
type file struct {
	path string
	mode int64
	data []byte
}

// layerTar is a reproducible tar of files: entries sorted, each parent
// directory listed before its children (0755), every entry owned by 0:0
// with the same mtime, no user or group names.
func layerTar(files []file, mtime time.Time) ([]byte, error) {
	type entry struct {
		name string
		f    *file
	}
	seen := map[string]bool{}
	var entries []entry
	for i := range files {
		p := strings.TrimPrefix(path.Clean(files[i].path), "/")
		if p == "" || p == "." || strings.HasPrefix(p, "..") {
			return nil, fmt.Errorf("bad path %q in a layer", files[i].path)
		}
		if seen[p] {
			return nil, fmt.Errorf("%s twice in a layer", files[i].path)
		}
		seen[p] = true
		entries = append(entries, entry{name: p, f: &files[i]})
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if !seen[d+"/"] {
				seen[d+"/"] = true
				entries = append(entries, entry{name: d + "/"})
			}
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, ModTime: mtime, Format: tar.FormatPAX}
		if e.f == nil {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, e.f.mode, int64(len(e.f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if e.f != nil {
			if _, err := tw.Write(e.f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// builtLayer is a layer with what the report says of it.
type builtLayer struct {
	layer        v1.Layer
	uncompressed int64
	createdBy    string
}

func newLayer(files []file, mtime time.Time, createdBy string) (builtLayer, error) {
	b, err := layerTar(files, mtime)
	if err != nil {
		return builtLayer{}, err
	}
	l, err := tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.BestCompression),
		tarball.WithCompressedCaching,
	)
	if err != nil {
		return builtLayer{}, err
	}
	return builtLayer{layer: l, uncompressed: int64(len(b)), createdBy: createdBy}, nil
}

// elfMachines are the ELF machines of the GOARCHes an image may hold.
var elfMachines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"386":     elf.EM_386,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

// checkBinary refuses what cannot run in a scratch image: not an ELF file,
// another architecture, or a dynamically linked binary (there is no libc).
func checkBinary(name string, data []byte, p v1.Platform) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s is not an ELF executable: %w", name, err)
	}
	want, ok := elfMachines[p.Architecture]
	if !ok {
		return fmt.Errorf("%s: unknown architecture %q", name, p.Architecture)
	}
	if f.Machine != want {
		return fmt.Errorf("%s is built for %s, not %s (%s)", name, f.Machine, p.Architecture, want)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked and the image has no libc: build it with CGO_ENABLED=0", name)
		}
	}
	return nil
}

// platformResult is one platform's image, for the report.
type platformResult struct {
	platform     v1.Platform
	digest       v1.Hash
	compressed   int64 // layers as pulled
	uncompressed int64 // layers as unpacked
}

type result struct {
	ref       string
	out       string
	archive   int64
	digest    v1.Hash // of what index.json points to
	platforms []platformResult
}

// pack builds the image of every platform and writes the archive.
func pack(o options, log io.Writer) (*result, error) {
	files, err := baseFiles(o.caFile)
	if err != nil {
		return nil, err
	}
	base, err := newLayer(files, o.epoch, "base: "+strings.Join([]string{CAPath, PasswdPath, GroupPath}, " "))
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}

	res := &result{ref: o.ref, out: o.out}
	var adds []mutate.IndexAddendum
	for _, pb := range o.platforms {
		img, pr, err := platformImage(o, pb, base, log)
		if err != nil {
			return nil, err
		}
		p := pb.platform
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
		res.platforms = append(res.platforms, pr)
	}

	// What index.json points to: the image itself for one platform, an
	// index of the platforms' images for several.
	var top mutate.IndexAddendum
	if len(adds) == 1 {
		top = adds[0]
	} else {
		top = mutate.IndexAddendum{Add: mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)}
	}
	top.Annotations = map[string]string{
		AnnotationContainerdName: o.ref,
		AnnotationRefName:        o.ref,
	}
	layoutIndex := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), top)
	im, err := layoutIndex.IndexManifest()
	if err != nil {
		return nil, err
	}
	res.digest = im.Manifests[0].Digest

	fmt.Fprintf(log, "writing %s\n", o.out)
	if res.archive, err = writeArchive(o.out, layoutIndex, o.epoch); err != nil {
		return nil, err
	}
	return res, nil
}

func platformImage(o options, pb platformBinary, base builtLayer, log io.Writer) (v1.Image, platformResult, error) {
	p := pb.platform
	bin, err := os.ReadFile(pb.path)
	if err != nil {
		return nil, platformResult{}, fmt.Errorf("%s: %w", p, err)
	}
	if err := checkBinary(pb.path, bin, p); err != nil {
		return nil, platformResult{}, err
	}
	fmt.Fprintf(log, "%s: %s (%s) -> %s\n", p, pb.path, mib(int64(len(bin))), o.entrypoint)
	binLayer, err := newLayer([]file{{path: o.entrypoint, mode: 0o755, data: bin}}, o.epoch, "binary: "+o.entrypoint)
	if err != nil {
		return nil, platformResult{}, fmt.Errorf("%s: binary layer: %w", p, err)
	}
	layers := []builtLayer{base, binLayer}
	// Each --also binary in a layer of its own, after the entrypoint's.
	for _, name := range o.also {
		src := filepath.Join(filepath.Dir(pb.path), name)
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, platformResult{}, fmt.Errorf("%s: --also %s: %w", p, name, err)
		}
		if err := checkBinary(src, b, p); err != nil {
			return nil, platformResult{}, err
		}
		dst := path.Join(path.Dir(o.entrypoint), name)
		fmt.Fprintf(log, "%s: %s (%s) -> %s\n", p, src, mib(int64(len(b))), dst)
		l, err := newLayer([]file{{path: dst, mode: 0o755, data: b}}, o.epoch, "binary: "+dst)
		if err != nil {
			return nil, platformResult{}, fmt.Errorf("%s: %s layer: %w", p, name, err)
		}
		layers = append(layers, l)
	}

	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	pr := platformResult{platform: p}
	for _, l := range layers {
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     l.layer,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: o.epoch}, CreatedBy: l.createdBy, Comment: "hack/image"},
		})
		if err != nil {
			return nil, platformResult{}, err
		}
		size, err := l.layer.Size()
		if err != nil {
			return nil, platformResult{}, err
		}
		pr.compressed += size
		pr.uncompressed += l.uncompressed
	}

	cf, err := img.ConfigFile()
	if err != nil {
		return nil, platformResult{}, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: o.epoch}
	cf.Author = ""
	cf.Config = v1.Config{
		User:       o.user,
		Entrypoint: []string{o.entrypoint},
		Env:        append([]string(nil), Env...),
		WorkingDir: WorkingDir,
		Labels:     o.labels,
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, platformResult{}, err
	}
	if pr.digest, err = img.Digest(); err != nil {
		return nil, platformResult{}, err
	}
	fmt.Fprintf(log, "%s: image %s, layers %s compressed\n", p, short(pr.digest), mib(pr.compressed))
	return img, pr, nil
}

// writeArchive lays the index out in a directory next to out with
// go-containerregistry's layout package, then tars that directory into out
// as reproducibly as the layers: sorted, 0:0, one mtime.
func writeArchive(out string, ii v1.ImageIndex, mtime time.Time) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(out), ".oci-layout-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if _, err := layout.Write(dir, ii); err != nil {
		return 0, fmt.Errorf("write OCI layout: %w", err)
	}

	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Format: tar.FormatPAX}
		if d.IsDir() {
			h.Name += "/"
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
			return tw.WriteHeader(h)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, fi.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	fi, err := os.Stat(tmp)
	if err != nil {
		return 0, err
	}
	return fi.Size(), os.Rename(tmp, out)
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s\n  archive %s (%s), index.json -> %s\n", r.ref, r.out, mib(r.archive), r.digest)
	fmt.Fprintf(w, "  %-14s %-22s %12s %14s\n", "platform", "image", "compressed", "uncompressed")
	for _, p := range r.platforms {
		fmt.Fprintf(w, "  %-14s %-22s %12s %14s\n", p.platform, short(p.digest), mib(p.compressed), mib(p.uncompressed))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func short(h v1.Hash) string {
	if len(h.Hex) < 12 {
		return h.String()
	}
	return h.Algorithm + ":" + h.Hex[:12]
}
