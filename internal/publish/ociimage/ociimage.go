// Package ociimage builds the release images without a Docker daemon (go-containerregistry):
// the same files always give the same layer, manifest and index digests. Each image is two
// layers on nothing: a base with the files-first nsswitch.conf of images/Dockerfile.alpine,
// passwd/group, /tmp and the licence texts, then hyperkube with a symlink per component.
// hyperkube is static, so it needs no libc (upstream's component images are distroless too).
package ociimage

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// LicenseDir is where the licence texts live in every image.
const LicenseDir = "usr/share/doc/hyperkube/licenses"

// Spec is one image: its repository name and the command it runs.
type Spec struct {
	Name       string // hyperkube, kube-apiserver, …
	Entrypoint string // /usr/local/bin/<component>
}

// Input is what every image of a release is made of.
type Input struct {
	GitVersion string
	Tag        string // GitVersion with "+" made "_": a tag cannot hold "+"
	Revision   string // our commit
	Source     string
	Created    time.Time         // the release time: fixed, so digests are reproducible
	NSSwitch   []byte            // images/nsswitch.conf
	Licenses   map[string][]byte // path under LicenseDir → content
	Components []string          // symlinks next to hyperkube
	Binaries   map[string]string // GOARCH → hyperkube built for it
}

// Built is one image for all architectures.
type Built struct {
	Spec   Spec
	Ref    string // repository:tag
	Index  v1.ImageIndex
	Images map[string]v1.Image // GOARCH → image
}

// BaseFiles are the files of the base layer outside the licence texts, by path.
func BaseFiles(nsswitch []byte) map[string][]byte {
	return map[string][]byte{
		"etc/nsswitch.conf": nsswitch,
		"etc/passwd":        []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"),
		"etc/group":         []byte("root:x:0:\nnogroup:x:65534:\n"),
	}
}

// CheckNSSwitch is the check images/Dockerfile.alpine makes: exactly "hosts: files dns".
func CheckNSSwitch(data []byte) error {
	var hosts []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "hosts:") {
			hosts = append(hosts, strings.TrimSpace(line))
		}
	}
	if len(hosts) != 1 || hosts[0] != "hosts: files dns" {
		return fmt.Errorf("nsswitch.conf must say exactly \"hosts: files dns\", has %q", hosts)
	}
	return nil
}

// CheckVersion makes the check images/Dockerfile.alpine makes (`kube-apiserver --version`
// says the stamped version) where the binary can run here; a foreign binary cannot, so for it
// the build info must name linux/<arch> without cgo and the binary must carry the version
// string that -X stamped.
func CheckVersion(bin, arch, want string) error {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("read build info of %s: %w", bin, err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["GOOS"] != "linux" || settings["GOARCH"] != arch || settings["CGO_ENABLED"] != "0" {
		return fmt.Errorf("%s is GOOS=%s GOARCH=%s CGO_ENABLED=%s, want linux/%s without cgo", bin,
			settings["GOOS"], settings["GOARCH"], settings["CGO_ENABLED"], arch)
	}
	if arch == runtime.GOARCH {
		out, err := exec.Command(bin, "kube-apiserver", "--version").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "Kubernetes "+want {
			return fmt.Errorf("%s kube-apiserver --version: %q (%v), want \"Kubernetes %s\"", bin, strings.TrimSpace(string(out)), err, want)
		}
		return nil
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	if !bytes.Contains(data, []byte(want)) {
		return fmt.Errorf("%s is not stamped %s", bin, want)
	}
	return nil
}

// Build makes every spec for every architecture.
func Build(in Input, specs []Spec) ([]Built, error) {
	if err := CheckNSSwitch(in.NSSwitch); err != nil {
		return nil, err
	}
	files := BaseFiles(in.NSSwitch)
	for p, data := range in.Licenses {
		files[path.Join(LicenseDir, p)] = data
	}
	base, err := layerOf(func(tw *tar.Writer) error { return writeBase(tw, files, in.Created) })
	if err != nil {
		return nil, err
	}
	arches := slices.Sorted(maps.Keys(in.Binaries))
	bins := map[string]v1.Layer{}
	for _, arch := range arches {
		if err := CheckVersion(in.Binaries[arch], arch, in.GitVersion); err != nil {
			return nil, err
		}
		bin := in.Binaries[arch]
		l, err := layerOf(func(tw *tar.Writer) error { return writeBinary(tw, bin, in.Components, in.Created) })
		if err != nil {
			return nil, err
		}
		bins[arch] = l
	}
	var out []Built
	for _, s := range specs {
		b := Built{Spec: s, Ref: s.Name + ":" + in.Tag, Images: map[string]v1.Image{}}
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		for _, arch := range arches {
			img, err := image(in, s, arch, base, bins[arch])
			if err != nil {
				return nil, err
			}
			b.Images[arch] = img
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
				Platform: platform(arch),
			}})
		}
		b.Index = idx
		out = append(out, b)
	}
	return out, nil
}

func platform(arch string) *v1.Platform {
	p := &v1.Platform{OS: "linux", Architecture: arch}
	if arch == "arm64" {
		p.Variant = "v8"
	}
	return p
}

func image(in Input, s Spec, arch string, base, bin v1.Layer) (v1.Image, error) {
	created := v1.Time{Time: in.Created}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{Created: created, CreatedBy: "hk release: base files, nsswitch.conf hosts: files dns, licences"}},
		mutate.Addendum{Layer: bin, MediaType: types.OCILayer, History: v1.History{Created: created, CreatedBy: "hk release: hyperkube " + in.GitVersion + " linux/" + arch}},
	)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	p := platform(arch)
	cf.OS, cf.Architecture, cf.Variant, cf.Created = p.OS, p.Architecture, p.Variant, created
	cf.Config.Entrypoint = []string{s.Entrypoint}
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":     s.Name,
		"org.opencontainers.image.version":   in.GitVersion,
		"org.opencontainers.image.revision":  in.Revision,
		"org.opencontainers.image.source":    in.Source,
		"org.opencontainers.image.base.name": "scratch",
		"org.opencontainers.image.licenses":  "Apache-2.0",
	}
	return mutate.ConfigFile(img, cf)
}

// layerOf writes a tar once into memory and serves it as a gzip layer; the binary layer is
// ~150 MB, which a release machine holds easily, and building it once keeps the digest
// computation from re-reading the file three times.
func layerOf(write func(*tar.Writer) error) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := write(tw); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

func header(name string, mode int64, size int64, typ byte, created time.Time) *tar.Header {
	return &tar.Header{Name: name, Mode: mode, Size: size, Typeflag: typ, ModTime: created, Format: tar.FormatPAX}
}

func writeBase(tw *tar.Writer, files map[string][]byte, created time.Time) error {
	dirs := map[string]bool{"tmp/": true}
	for p := range files {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			dirs[d+"/"] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(header(d, mode, 0, tar.TypeDir, created)); err != nil {
			return err
		}
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(header(p, 0o644, int64(len(files[p])), tar.TypeReg, created)); err != nil {
			return err
		}
		if _, err := tw.Write(files[p]); err != nil {
			return err
		}
	}
	return nil
}

func writeBinary(tw *tar.Writer, bin string, components []string, created time.Time) error {
	f, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
		if err := tw.WriteHeader(header(d, 0o755, 0, tar.TypeDir, created)); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(header("usr/local/bin/hyperkube", 0o755, st.Size(), tar.TypeReg, created)); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return err
	}
	for _, c := range components {
		h := header("usr/local/bin/"+c, 0o777, 0, tar.TypeSymlink, created)
		h.Linkname = "hyperkube"
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	return nil
}

// WriteLayout writes every image's index into one OCI image layout at dir, named by the
// org.opencontainers.image.ref.name annotation; shared layers are stored once.
func WriteLayout(dir string, built []Built) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	for _, b := range built {
		if err := p.AppendIndex(b.Index, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": b.Ref})); err != nil {
			return fmt.Errorf("write %s to %s: %w", b.Ref, dir, err)
		}
	}
	return nil
}
