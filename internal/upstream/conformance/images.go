package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/kind/kindnode"
	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/filelock"
)

// Registry is where our builds of upstream's e2e test images are tagged. The suite is pointed at
// it with its own mechanism, KUBE_TEST_REPO_LIST (RepoList), so no image claims to be
// registry.k8s.io's. The node image already holds the two images the suite takes from
// registry.k8s.io itself, pause and etcd, at kubeadm's tags.
const Registry = "docker.io/hk/e2e-test-images"

// manifestFile names every image the suite uses and its version.
const manifestFile = "test/utils/image/manifest.go"

// Debian is where the images' packaged programs come from (the kind node's suite and mirror).
const (
	debianSuite  = "bookworm"
	debianMirror = "http://deb.debian.org/debian"
)

// basePackages are what upstream's Dockerfiles install on Alpine (agnhost: bind-tools curl
// netcat-openbsd iproute2 iperf bash util-linux socat; glibc-dns-testing: dnsutils) or take from
// an image that is a packaged program (nginx), as Debian names them. busybox is built from
// busybox.net's source (buildBusybox).
var basePackages = []string{
	"bind9-dnsutils", "curl", "netcat-openbsd", "iproute2", "iperf", "socat", "ca-certificates",
	"nginx-light",
}

// recipe is how one image of manifest.go is made here.
type recipe struct {
	id     string // manifest.go's ImageID
	source string // what it is built from, for its label and the docs
	// layers picks the image's layers, bottom-up, from those BuildImages makes.
	layers     func(l layers) []kindnode.Layer
	entrypoint []string
	cmd        []string
	user       string
	stopSignal string
}

// layers are the image layers BuildImages makes.
type layers struct {
	debian, busybox, agnhost, kitten, nautilus, nnp, sampleAPIServer kindnode.Layer
}

// recipes are the images the conformance tests run, by manifest.go's ImageID. Where upstream's
// image is Alpine plus a program of the tree, it is Debian plus the same program; where it is a
// packaged program, Debian's package. Upstream's Dockerfiles: test/images/<name>/Dockerfile.
var recipes = []recipe{
	{id: "Agnhost", source: "test/images/agnhost on Debian (Dockerfile's packages)",
		layers:     func(l layers) []kindnode.Layer { return []kindnode.Layer{l.debian, l.agnhost} },
		entrypoint: []string{"/agnhost"}, cmd: []string{"pause"}},
	// The suite updates pods from AgnhostPrev to Agnhost: the same program under the older tag
	// (its label, and so its image ID, differs).
	{id: "AgnhostPrev", source: "test/images/agnhost on Debian, tagged as the previous version",
		layers:     func(l layers) []kindnode.Layer { return []kindnode.Layer{l.debian, l.agnhost} },
		entrypoint: []string{"/agnhost"}, cmd: []string{"pause"}},
	{id: "Kitten", source: "agnhost + test/images/kitten/html",
		layers:     func(l layers) []kindnode.Layer { return []kindnode.Layer{l.debian, l.agnhost, l.kitten} },
		entrypoint: []string{"/agnhost"}, cmd: []string{"test-webserver"}},
	{id: "Nautilus", source: "agnhost + test/images/nautilus/html",
		layers:     func(l layers) []kindnode.Layer { return []kindnode.Layer{l.debian, l.agnhost, l.nautilus} },
		entrypoint: []string{"/agnhost"}, cmd: []string{"test-webserver"}},
	{id: "BusyBox", source: "busybox " + busyboxVersion + " from busybox.net's source (defconfig, static) with its applets, /etc/passwd, /tmp",
		layers: func(l layers) []kindnode.Layer { return []kindnode.Layer{l.busybox} }, cmd: []string{"sh"}},
	{id: "Nginx", source: "Debian's nginx-light, in the foreground, logs to stdout and stderr",
		layers: func(l layers) []kindnode.Layer { return []kindnode.Layer{l.debian} },
		cmd:    []string{"nginx", "-g", "daemon off;"}, stopSignal: "SIGQUIT"},
	{id: "NginxNew", source: "Debian's nginx-light, tagged as the newer version",
		layers: func(l layers) []kindnode.Layer { return []kindnode.Layer{l.debian} },
		cmd:    []string{"nginx", "-g", "daemon off;"}, stopSignal: "SIGQUIT"},
	{id: "Nonewprivs", source: "test/images/nonewprivs (nnp, setuid root) on busybox",
		layers: func(l layers) []kindnode.Layer { return []kindnode.Layer{l.busybox, l.nnp} }, cmd: []string{"nnp"}},
	{id: "NonRoot", source: "Debian, USER 1234",
		layers: func(l layers) []kindnode.Layer { return []kindnode.Layer{l.debian} }, user: "1234"},
	{id: "APIServer", source: "k8s.io/sample-apiserver from the tree's staging on busybox",
		layers:     func(l layers) []kindnode.Layer { return []kindnode.Layer{l.busybox, l.sampleAPIServer} },
		entrypoint: []string{"/sample-apiserver"}},
	{id: "GlibcDnsTesting", source: "Debian with dnsutils",
		layers: func(l layers) []kindnode.Layer { return []kindnode.Layer{l.debian} }, cmd: []string{"bash"}},
}

// ImageRef is one image the suite names, as the tree's manifest.go gives it.
type ImageRef struct {
	ID       string `json:"id"`       // ImageID
	Registry string `json:"registry"` // RegistryList field, e.g. PromoterE2eRegistry
	Name     string `json:"name"`
	Version  string `json:"version"`
}

var configLine = regexp.MustCompile(`configs\[(\w+)\] = Config\{list\.(\w+), "([^"]+)", "([^"]+)"\}`)

// ManifestImages reads the images the tree's suite names, by ImageID.
func ManifestImages(tree string) (map[string]ImageRef, error) {
	data, err := os.ReadFile(filepath.Join(tree, manifestFile))
	if err != nil {
		return nil, err
	}
	refs := map[string]ImageRef{}
	for _, m := range configLine.FindAllStringSubmatch(string(data), -1) {
		refs[m[1]] = ImageRef{ID: m[1], Registry: m[2], Name: m[3], Version: m[4]}
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("%s: no image configs found (has its format changed?)", manifestFile)
	}
	return refs, nil
}

// Images is what BuildImages made.
type Images struct {
	Archive  string        `json:"archive"`  // docker-save archive of every image, for every node
	RepoList string        `json:"repoList"` // the KUBE_TEST_REPO_LIST file pointing the suite at Registry
	Built    []BuiltImage  `json:"built"`
	Inputs   string        `json:"inputs"`
	Took     time.Duration `json:"-"`
}

// BuiltImage is one image of the archive.
type BuiltImage struct {
	Tag    string `json:"tag"`
	Source string `json:"source"`
}

// ImageOptions configure BuildImages.
type ImageOptions struct {
	Tree     string // the tree: its test/images sources and manifest.go
	Commit   string // the tree's commit, naming its content
	Version  string // the release, for the images' labels
	CacheDir string // the machine's cache: the Debian layer, built once
	OutDir   string // where the archive is written (out/conformance/<version>/images)
	Log      func(string, ...any)
}

// BuildImages builds every image of recipes at the tags the tree's manifest.go names, under
// Registry, into one archive, once per tree and Debian layer.
func BuildImages(ctx context.Context, o ImageOptions) (*Images, error) {
	refs, err := ManifestImages(o.Tree)
	if err != nil {
		return nil, err
	}
	for _, r := range recipes {
		ref, ok := refs[r.id]
		if !ok {
			return nil, fmt.Errorf("%s names no image %s", manifestFile, r.id)
		}
		if ref.Registry != "PromoterE2eRegistry" {
			return nil, fmt.Errorf("%s: image %s is in %s, not the e2e registry this build replaces", manifestFile, r.id, ref.Registry)
		}
	}
	if err := os.MkdirAll(filepath.Dir(o.OutDir), 0o755); err != nil {
		return nil, err
	}
	unlock, err := filelock.Lock(o.OutDir+".lock", nil)
	if err != nil {
		return nil, err
	}
	defer unlock()
	debian, err := debianLayer(ctx, filepath.Join(o.CacheDir, "conformance"), o.Log)
	if err != nil {
		return nil, err
	}
	busybox, err := buildBusybox(ctx, filepath.Join(o.CacheDir, "conformance"), o.Log)
	if err != nil {
		return nil, err
	}
	inputs := imagesKey(o.Commit, debian.Digest, busybox)
	if data, err := os.ReadFile(filepath.Join(o.OutDir, "images.json")); err == nil {
		var im Images
		if json.Unmarshal(data, &im) == nil && im.Inputs == inputs {
			return &im, nil
		}
	}
	start := time.Now()
	tmp, err := os.MkdirTemp(filepath.Dir(o.OutDir), ".images-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bins := filepath.Join(tmp, "bin")
	o.Log("conformance images: go build agnhost, nonewprivs and sample-apiserver from %s", o.Tree)
	if _, err := command.New("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bins+"/",
		"./test/images/agnhost", "./test/images/nonewprivs", "k8s.io/sample-apiserver").
		InDir(o.Tree).WithEnv(goEnv...).Run(ctx); err != nil {
		return nil, fmt.Errorf("build the test images' programs: %w", err)
	}
	l := layers{debian: debian}
	images := filepath.Join(o.Tree, "test", "images")
	for _, s := range []struct {
		dst  *kindnode.Layer
		name string
		fill func(dir string) error
	}{
		{&l.busybox, "busybox", func(dir string) error { return busyboxFiles(ctx, dir, busybox) }},
		{&l.agnhost, "agnhost", func(dir string) error {
			return place(dir, []file{
				{"agnhost", filepath.Join(bins, "agnhost"), 0o755},
				{"localhost.crt", filepath.Join(images, "agnhost", "porter", "localhost.crt"), 0o644},
				{"localhost.key", filepath.Join(images, "agnhost", "porter", "localhost.key"), 0o644},
			}, "uploads", map[string]string{"agnhost-2": "agnhost"})
		}},
		{&l.kitten, "kitten", func(dir string) error { return html(dir, filepath.Join(images, "kitten", "html"), "kitten.jpg") }},
		{&l.nautilus, "nautilus", func(dir string) error {
			return html(dir, filepath.Join(images, "nautilus", "html"), "nautilus.jpg")
		}},
		// setuid root, as the Dockerfile's chmod +s: the test checks no_new_privs stops it.
		{&l.nnp, "nonewprivs", func(dir string) error {
			return place(dir, []file{{"usr/local/bin/nnp", filepath.Join(bins, "nonewprivs"), 0o755 | os.ModeSetuid | os.ModeSetgid}}, "", nil)
		}},
		{&l.sampleAPIServer, "sample-apiserver", func(dir string) error {
			return place(dir, []file{{"sample-apiserver", filepath.Join(bins, "sample-apiserver"), 0o755}}, "", nil)
		}},
	} {
		dir := filepath.Join(tmp, "layers", s.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := s.fill(dir); err != nil {
			return nil, fmt.Errorf("image layer %s: %w", s.name, err)
		}
		if *s.dst, err = kindnode.WriteLayer(dir, filepath.Join(tmp, s.name+".tar")); err != nil {
			return nil, err
		}
	}
	var specs []kindnode.ImageSpec
	im := &Images{Archive: filepath.Join(o.OutDir, "images.tar"), RepoList: filepath.Join(o.OutDir, "repo-list.yaml"), Inputs: inputs}
	for _, r := range recipes {
		ref := refs[r.id]
		tag := Registry + "/" + ref.Name + ":" + ref.Version
		specs = append(specs, kindnode.ImageSpec{
			Tags: []string{tag}, Layers: r.layers(l), Entrypoint: r.entrypoint, Cmd: r.cmd, User: r.user, StopSignal: r.stopSignal,
			Labels: map[string]string{
				"org.opencontainers.image.title":   ref.Name,
				"org.opencontainers.image.version": ref.Version,
				"org.opencontainers.image.source":  "k8s.io/kubernetes " + o.Version + ": " + r.source,
			},
		})
		im.Built = append(im.Built, BuiltImage{Tag: tag, Source: r.source})
	}
	if err := kindnode.WriteArchive(filepath.Join(tmp, "images.tar"), specs, time.Unix(0, 0)); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "repo-list.yaml"), []byte(RepoList()), 0o644); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(bins); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Join(tmp, "layers")); err != nil {
		return nil, err
	}
	for _, n := range []string{"busybox", "agnhost", "kitten", "nautilus", "nonewprivs", "sample-apiserver"} {
		os.Remove(filepath.Join(tmp, n+".tar"))
	}
	data, _ := json.MarshalIndent(im, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "images.json"), data, 0o644); err != nil {
		return nil, err
	}
	os.RemoveAll(o.OutDir)
	if err := os.Rename(tmp, o.OutDir); err != nil {
		return nil, err
	}
	im.Took = time.Since(start)
	o.Log("conformance images: %d images in %s (%v)", len(im.Built), im.Archive, im.Took.Round(time.Second))
	return im, nil
}

// RepoList is the KUBE_TEST_REPO_LIST content that points the suite's e2e registry at Registry.
func RepoList() string { return "promoterE2eRegistry: " + Registry + "\n" }

func imagesKey(commit, debianDigest, busybox string) string {
	sum := sha256.Sum256([]byte(strings.Join(append([]string{commit, debianDigest, busybox}, recipeNames()...), "\n")))
	return hex.EncodeToString(sum[:8])
}

// recipeNames names the recipes with what decides their images (so a changed recipe rebuilds).
func recipeNames() []string {
	var out []string
	for _, r := range recipes {
		out = append(out, fmt.Sprintf("%s %s %q %q %q %q", r.id, r.source, r.entrypoint, r.cmd, r.user, r.stopSignal))
	}
	sort.Strings(out)
	return append(out, "layout-1")
}

// file is one file placed into a layer directory.
type file struct {
	path, src string
	mode      os.FileMode
}

// place copies files into dir, makes an empty directory mkdir (if any) and symlinks name → target.
func place(dir string, files []file, mkdir string, links map[string]string) error {
	for _, f := range files {
		if err := kindnode.CopyFile(f.src, filepath.Join(dir, f.path), f.mode); err != nil {
			return err
		}
	}
	if mkdir != "" {
		if err := os.MkdirAll(filepath.Join(dir, mkdir), 0o755); err != nil {
			return err
		}
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// html is a kitten or nautilus layer: the picture and data.json at the image's root, which
// agnhost's test-webserver serves.
func html(dir, src, picture string) error {
	return place(dir, []file{
		{picture, filepath.Join(src, picture), 0o644},
		{"data.json", filepath.Join(src, "data.json"), 0o644},
	}, "", nil)
}

// busyboxFiles lays out a busybox image: the static binary and its applets, and what the
// busybox image has besides (root and nobody, a world-writable /tmp).
func busyboxFiles(ctx context.Context, dir, busybox string) error {
	if err := kindnode.InstallBusybox(ctx, dir, busybox); err != nil {
		return err
	}
	for name, data := range map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	for _, d := range []string{"tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	return os.Chmod(filepath.Join(dir, "tmp"), 0o777|os.ModeSticky)
}

// debianLayer debootstraps basePackages once into a layer under cacheDir, with agnhost's image
// user and group and nginx's logs on the container's output; packages.txt lists the versions.
func debianLayer(ctx context.Context, cacheDir string, log func(string, ...any)) (kindnode.Layer, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return kindnode.Layer{}, err
	}
	unlock, err := filelock.Lock(filepath.Join(cacheDir, "base.lock"), nil)
	if err != nil {
		return kindnode.Layer{}, err
	}
	defer unlock()
	sum := sha256.Sum256([]byte(strings.Join(append([]string{debianSuite, debianMirror, "minbase", "prepare-1"}, basePackages...), "\n")))
	dir := filepath.Join(cacheDir, "base-"+debianSuite+"-"+hex.EncodeToString(sum[:6]))
	if data, err := os.ReadFile(filepath.Join(dir, "layer.json")); err == nil {
		var l kindnode.Layer
		if json.Unmarshal(data, &l) == nil && filepath.Dir(l.Path) == dir {
			return l, nil
		}
	}
	if err := command.Require("debootstrap", "tar", "chroot"); err != nil {
		return kindnode.Layer{}, fmt.Errorf("%w (scripts/install-deps.sh kind installs it)", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".base-")
	if err != nil {
		return kindnode.Layer{}, err
	}
	defer os.RemoveAll(tmp)
	rootfs := filepath.Join(tmp, "rootfs")
	log("conformance images: debootstrap %s minbase + %s", debianSuite, strings.Join(basePackages, " "))
	if _, err := command.New("debootstrap", "--variant=minbase", "--include="+strings.Join(basePackages, ","),
		debianSuite, rootfs, debianMirror).Run(ctx); err != nil {
		return kindnode.Layer{}, err
	}
	if err := prepareDebian(rootfs); err != nil {
		return kindnode.Layer{}, err
	}
	pkgs, err := command.New("chroot", rootfs, "dpkg-query", "-W", "-f", "${Package} ${Version}\n").Output(ctx)
	if err != nil {
		return kindnode.Layer{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "packages.txt"), []byte(pkgs+"\n"), 0o644); err != nil {
		return kindnode.Layer{}, err
	}
	if _, err := command.New("tar", "-C", rootfs, "--numeric-owner", "--sort=name", "--mtime=@0", "--xattrs",
		"-cf", filepath.Join(tmp, "layer.tar"), ".").Run(ctx); err != nil {
		return kindnode.Layer{}, err
	}
	if err := os.RemoveAll(rootfs); err != nil {
		return kindnode.Layer{}, err
	}
	l, err := kindnode.NewLayer(filepath.Join(tmp, "layer.tar"))
	if err != nil {
		return kindnode.Layer{}, err
	}
	l.Path = filepath.Join(dir, "layer.tar")
	data, _ := json.Marshal(l)
	if err := os.WriteFile(filepath.Join(tmp, "layer.json"), data, 0o644); err != nil {
		return kindnode.Layer{}, err
	}
	os.RemoveAll(dir)
	return l, os.Rename(tmp, dir)
}

// prepareDebian does what upstream's Dockerfiles do beyond installing packages: agnhost's user
// and group defined in the image (uid 1000, gid 50000), nginx's logs to the container's output
// (as the nginx image links them), and no apt caches or machine identity.
func prepareDebian(rootfs string) error {
	r := func(p string) string { return filepath.Join(rootfs, p) }
	for _, a := range []struct{ file, line string }{
		{"etc/passwd", "user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh"},
		{"etc/group", "user-defined-in-image:x:1000:"},
		{"etc/group", "group-defined-in-image:x:50000:user-defined-in-image"},
	} {
		f, err := os.OpenFile(r(a.file), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		fmt.Fprintln(f, a.line)
		if err := f.Close(); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{"var/log/nginx/access.log": "/dev/stdout", "var/log/nginx/error.log": "/dev/stderr"} {
		os.Remove(r(name))
		if err := os.Symlink(target, r(name)); err != nil {
			return err
		}
	}
	for _, pattern := range []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "var/log/*.log", "var/log/apt/*"} {
		matches, _ := filepath.Glob(r(pattern))
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(r("etc/machine-id"), nil, 0o444)
}
