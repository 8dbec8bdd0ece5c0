// Package kindnode builds, offline, a node image that stock `kind create cluster --image` accepts:
// a Debian bookworm userland (debootstrap) prepared as kind's base image is, kind's own base files
// from its Go module, containerd, runc and CNI plugins from Debian, our hyperkube as kubeadm,
// kubelet and kubectl, the images kubeadm asks for (apiserver, controller-manager, scheduler,
// kube-proxy, etcd at the release's pin, pause, CoreDNS) made from our binaries, and kind's
// default CNI (flannel) and storage (local-path-provisioner) with their images (internal/kind/kindaddons).
// No registry is involved: images are written as `docker save` archives and loaded.
package kindnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/compile/etcdbuild"
	"github.com/hardened-hyperkube/hk/internal/kind/kindaddons"
	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/steps"
	"github.com/hardened-hyperkube/hk/internal/source/modcache"
	"github.com/hardened-hyperkube/hk/internal/source/tree"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// KindModule is the kind release whose base files the image carries and whose Go API drives it.
const KindModule = "sigs.k8s.io/kind@v0.33.0"

// Repository is where node images are tagged.
const Repository = "hk/kind-node"

// Options select what to build and where to load it.
type Options struct {
	Root, Version, Selection, OutDir, CacheDir string
	// BaseCacheDir keeps the Debian base layer (debootstrap, minutes) across checkouts; empty
	// means out/kind.
	BaseCacheDir string
	// Docker returns a docker CLI command against the daemon that receives the image.
	Docker func(args ...string) *command.Cmd
	Log    func(format string, args ...any)
}

// Result describes a node image.
type Result struct {
	Image      string        `json:"image"`
	GitVersion string        `json:"gitVersion"`
	ID         string        `json:"id"`
	SizeBytes  int64         `json:"sizeBytes"`
	Preloaded  []string      `json:"preloaded"`
	Elapsed    time.Duration `json:"elapsed"`
}

// ImageTag is the tag of a version in an image reference: tags cannot hold "+", so build metadata
// is joined with "_", as kubeadm and upstream's release scripts do (v1.37.2+hk.x → v1.37.2_hk.x).
func ImageTag(gitVersion string) string { return strings.ReplaceAll(gitVersion, "+", "_") }

// Build makes the node image of a version and patch selection and loads it into the daemon. It
// reads as its steps; each is a method of nodeRun below.
func Build(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	r := &nodeRun{o: o}
	defer r.cleanup()
	// Bad input is one line and nothing else: checked before the first step is announced.
	if err := r.checkInputs(); err != nil {
		return nil, err
	}
	err := steps.Run(ctx, o.Log, "node image "+o.Version, []steps.Step{
		{Name: "building the hyperkube and etcd", Run: r.buildBinaries},
		{Name: "preparing the Debian base layers", Run: r.prepareBase},
		{Name: "building kind's addons (CoreDNS, flannel, local-path-provisioner)", Run: r.buildAddons},
		{Name: "staging the image layers", Run: r.stageLayers},
		{Name: "writing the preloaded images", Run: r.writePreloaded},
		{Name: "writing the node image", Run: r.writeNode},
		{Name: "loading it into Docker", Run: r.load},
	})
	if err != nil {
		return nil, err
	}
	r.result.Elapsed = time.Since(start)
	return r.result, nil
}

// nodeRun is one node image in the making: what each step leaves for the next.
type nodeRun struct {
	o          Options
	pins       *versions.Pins
	components []string
	created    time.Time

	res        *build.Result // the hyperkube
	gitVersion string
	etcd       string
	wanted     map[string]string // kubeadm's images by short name
	kindFiles  string            // kind's base image files

	kindCache, baseCache string
	debian               debianBase
	addons               *kindaddons.Binaries
	cni, storage         *kindaddons.Manifest
	work                 string // scratch directory, removed at the end

	layers    map[string]Layer // staged layers by name
	images    []ImageSpec      // the preloaded images
	preloaded []string
	archive   string // the preloaded images' archive
	nodeTar   string // the node image's archive
	ref       string
	result    *Result
}

func (r *nodeRun) cleanup() {
	if r.work != "" {
		os.RemoveAll(r.work)
	}
}

func (r *nodeRun) checkInputs() error {
	o := r.o
	var err error
	if r.pins, err = versions.Load(o.Root, o.Version); err != nil {
		return err
	}
	if r.components, err = build.ComponentsOf(o.Root, o.Version); err != nil {
		return err
	}
	if !contains(r.components, "kubeadm") {
		return fmt.Errorf("the hyperkube of %s has no kubeadm: kind cannot drive it (kind node images start at v1.35 here)", o.Version)
	}
	if r.created, err = time.Parse(time.RFC3339, r.pins.ReleaseTime); err != nil {
		return fmt.Errorf("release time of %s: %w", o.Version, err)
	}
	return command.Require("gcc", "tar")
}

// buildBinaries builds (or finds) the hyperkube and etcd, and asks kubeadm which images it uses.
func (r *nodeRun) buildBinaries(ctx context.Context) error {
	o := r.o
	res, err := build.Build(ctx, build.Options{Root: o.Root, Version: o.Version, Selection: o.Selection,
		OutDir: o.OutDir, CacheDir: o.CacheDir, Log: o.Log})
	if err != nil {
		return err
	}
	r.res, r.gitVersion = res, res.Provenance.GitVersion
	if r.etcd, err = etcdbuild.Ensure(ctx, o.Root, o.OutDir, r.pins.Etcd, o.Log); err != nil {
		return err
	}
	if r.wanted, err = kubeadmImages(ctx, filepath.Join(res.Dir, "kubeadm"), r.gitVersion); err != nil {
		return err
	}
	mods, err := modcache.Download(ctx, KindModule)
	if err != nil {
		return err
	}
	r.kindFiles = filepath.Join(mods[0].Dir, "images", "base", "files")
	return nil
}

func (r *nodeRun) prepareBase(ctx context.Context) error {
	r.kindCache = filepath.Join(r.o.OutDir, "kind")
	r.baseCache = r.o.BaseCacheDir
	if r.baseCache == "" {
		r.baseCache = r.kindCache
	}
	var err error
	r.debian, err = baseLayers(ctx, r.baseCache, r.o.Log)
	return err
}

func (r *nodeRun) buildAddons(ctx context.Context) error {
	coreDNS := r.wanted["coredns"]
	if coreDNS == "" {
		return fmt.Errorf("kubeadm config images list named no coredns image")
	}
	var err error
	if r.addons, err = kindaddons.Build(ctx, r.baseCache, coreDNS[strings.LastIndex(coreDNS, ":")+1:], r.o.Log); err != nil {
		return err
	}
	if r.cni, err = kindaddons.CNIManifest(ctx); err != nil {
		return err
	}
	r.storage, err = kindaddons.StorageManifest(ctx, KindModule)
	return err
}

// stageLayers stages each layer the images are made of: the images kubeadm asks for, from our
// binaries, and kind's addons.
func (r *nodeRun) stageLayers(ctx context.Context) error {
	if err := os.MkdirAll(r.kindCache, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(r.kindCache, ".node-image-")
	if err != nil {
		return err
	}
	r.work = work
	pristine, err := tree.Materialize(ctx, r.pins, r.o.CacheDir, r.o.Log)
	if err != nil {
		return err
	}
	pause, err := buildPause(ctx, pristine, work, r.wanted["pause"])
	if err != nil {
		return err
	}
	copyTo := func(dst, src string) func(dir string) error {
		return func(dir string) error { return CopyFile(src, filepath.Join(dir, dst), 0o755) }
	}
	fills := []struct {
		name string
		fill func(dir string) error
	}{
		{"hyperkube", func(dir string) error { return installHyperkube(dir, "usr/local/bin", r.res.Binary, r.components) }},
		{"etcd", copyTo("usr/local/bin/etcd", r.etcd)},
		{"pause", copyTo("pause", pause)},
		{"busybox", func(dir string) error { return InstallBusybox(ctx, dir, r.debian.Busybox) }},
		{"coredns", copyTo("coredns", r.addons.CoreDNS)},
		{"flannel", func(dir string) error {
			if err := CopyFile(r.addons.Flanneld, filepath.Join(dir, "opt/bin/flanneld"), 0o755); err != nil {
				return err
			}
			return CopyFile(r.addons.FlannelInstallConf, filepath.Join(dir, "opt/bin/install-conf"), 0o755)
		}},
		{"flannel-cni-plugin", copyTo("flannel", r.addons.FlannelCNI)},
		{"local-path-provisioner", copyTo("usr/local/bin/local-path-provisioner", r.addons.LocalPathProvisioner)},
	}
	r.layers = map[string]Layer{}
	for _, f := range fills {
		l, err := stagedLayer(work, f.name, f.fill)
		if err != nil {
			return err
		}
		r.layers[f.name] = l
	}
	return nil
}

var nodePath = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

func (r *nodeRun) labels() map[string]string {
	return map[string]string{"org.opencontainers.image.version": r.gitVersion, "io.hk.kubernetes": r.o.Version}
}

// writePreloaded writes the images the node holds at boot into one archive: kubeadm's and those
// kind's default CNI and storage manifests name.
func (r *nodeRun) writePreloaded(context.Context) error {
	l, debian, labels := r.layers, r.debian, r.labels()
	names := make([]string, 0, len(r.wanted))
	for name := range r.wanted {
		names = append(names, name)
	}
	sort.Strings(names) // a stable archive: same inputs, same bytes
	for _, name := range names {
		ref := r.wanted[name]
		spec := ImageSpec{Tags: []string{ref}, Env: nodePath, Labels: labels}
		switch name {
		case "kube-apiserver", "kube-controller-manager", "kube-scheduler":
			spec.Layers = []Layer{l["hyperkube"]}
		case "kube-proxy":
			// iptables, nft and conntrack, as upstream's distroless-iptables base.
			spec.Layers = []Layer{debian.Slim, l["hyperkube"]}
		case "etcd":
			spec.Layers = []Layer{l["etcd"]}
		case "pause":
			spec.Layers, spec.Entrypoint = []Layer{l["pause"]}, []string{"/pause"}
			// containerd's sandbox image in kind's config.toml, which may differ from kubeadm's.
			if ref != containerdSandboxImage {
				spec.Tags = append(spec.Tags, containerdSandboxImage)
			}
		case "coredns":
			spec.Layers, spec.Entrypoint = []Layer{l["coredns"]}, []string{"/coredns"}
		default:
			return fmt.Errorf("kubeadm asks for an image this node image does not make: %s", ref)
		}
		r.images = append(r.images, spec)
	}
	// kind's default CNI and storage, by the names their manifests use.
	addonImages := map[string]ImageSpec{
		"ghcr.io/flannel-io/flannel:" + strings.TrimPrefix(kindaddons.FlannelModule, "github.com/flannel-io/flannel@"): {
			Layers: []Layer{debian.Slim, l["flannel"]}, Entrypoint: []string{"/opt/bin/flanneld"}},
		kindaddons.FlannelCNIPluginImage: {Layers: []Layer{l["busybox"], l["flannel-cni-plugin"]}},
		r.storage.Images[0]:              {Layers: []Layer{l["local-path-provisioner"]}},
		r.storage.Images[1]:              {Layers: []Layer{l["busybox"]}},
		BusyboxImage:                     {Layers: []Layer{l["busybox"]}},
	}
	for _, ref := range append(append([]string{}, r.cni.Images...), append(r.storage.Images, BusyboxImage)...) {
		spec, ok := addonImages[ref]
		if !ok {
			return fmt.Errorf("a default manifest names an image this node image does not make: %s", ref)
		}
		spec.Tags, spec.Env, spec.Labels = []string{ref}, nodePath, labels
		r.images = append(r.images, spec)
	}
	for _, spec := range r.images {
		r.preloaded = append(r.preloaded, spec.Tags...)
	}
	r.o.Log("node image: writing %d preloaded images", len(r.images))
	r.archive = filepath.Join(r.work, "hk-images.tar")
	return WriteArchive(r.archive, r.images, r.created)
}

// writeNode writes the node image itself: the Debian base and kind's files, our binaries and the
// preloaded archive.
func (r *nodeRun) writeNode(context.Context) error {
	preloadDigest, err := NewLayer(r.archive)
	if err != nil {
		return err
	}
	nodeLayer, err := stagedLayer(r.work, "node", func(dir string) error {
		return nodeFiles(dir, r.kindFiles, r.res.Binary, r.gitVersion, r.archive, preloadDigest.Digest, r.cni.YAML, r.storage.YAML)
	})
	if err != nil {
		return err
	}
	r.ref = Repository + ":" + ImageTag(r.gitVersion)
	node := ImageSpec{
		Tags: []string{r.ref}, Layers: []Layer{r.debian.Node, nodeLayer},
		Env:        append([]string{"container=docker"}, nodePath...),
		Entrypoint: []string{"/usr/local/bin/entrypoint", "/sbin/init"},
		StopSignal: "SIGRTMIN+3", // systemd exits on SIGRTMIN+3; SIGTERM makes it re-execute
		Labels:     r.labels(),
	}
	r.nodeTar = filepath.Join(r.work, "node.tar")
	return WriteArchive(r.nodeTar, []ImageSpec{node}, r.created)
}

func (r *nodeRun) load(ctx context.Context) error {
	r.o.Log("node image: docker load %s", r.ref)
	f, err := os.Open(r.nodeTar)
	if err != nil {
		return err
	}
	defer f.Close()
	load := r.o.Docker("load", "-q")
	load.Stdin = f
	if _, err := load.Run(ctx); err != nil {
		return err
	}
	out, err := r.o.Docker("image", "inspect", "--format", "{{.Id}} {{.Size}}", r.ref).Output(ctx)
	if err != nil {
		return err
	}
	r.result = &Result{Image: r.ref, GitVersion: r.gitVersion, Preloaded: r.preloaded}
	if _, err := fmt.Sscan(out, &r.result.ID, &r.result.SizeBytes); err != nil {
		return fmt.Errorf("docker image inspect %s: %q", r.ref, out)
	}
	return nil
}

// BusyboxImage is Debian's static busybox as an image, for tests' pods (the storage helper image
// is the same layer).
const BusyboxImage = "docker.io/hk/busybox:debian-" + debianSuite

// containerdSandboxImage is the sandbox_image of kind's containerd config.toml.
const containerdSandboxImage = "registry.k8s.io/pause:3.10"

// kubeadmImages asks our kubeadm which images it will use for this version, keyed by short name
// (kube-apiserver, etcd, pause, coredns, ...).
func kubeadmImages(ctx context.Context, kubeadm, gitVersion string) (map[string]string, error) {
	out, err := command.New(kubeadm, "config", "images", "list", "--kubernetes-version", gitVersion).Output(ctx)
	if err != nil {
		return nil, err
	}
	images := map[string]string{}
	for _, ref := range strings.Fields(out) {
		name := ref[strings.LastIndex(ref, "/")+1:]
		name, _, _ = strings.Cut(name, ":")
		images[name] = ref
	}
	for _, need := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "etcd", "pause"} {
		if images[need] == "" {
			return nil, fmt.Errorf("kubeadm config images list named no %s image: %q", need, out)
		}
	}
	return images, nil
}

// buildPause compiles upstream's pause.c from the release's tree, statically, stamped with the
// version of the tag kubeadm expects.
func buildPause(ctx context.Context, tree, work, ref string) (string, error) {
	version := ref[strings.LastIndex(ref, ":")+1:]
	src := filepath.Join(tree, "build", "pause", "linux", "pause.c")
	out := filepath.Join(work, "pause.bin")
	if _, err := command.New("gcc", "-Os", "-Wall", "-Werror", "-static", "-DVERSION="+version, "-o", out, src).Run(ctx); err != nil {
		return "", fmt.Errorf("build pause: %w", err)
	}
	return out, nil
}

// stagedLayer fills a fresh directory and packs it as a layer.
func stagedLayer(work, name string, fill func(dir string) error) (Layer, error) {
	dir := filepath.Join(work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Layer{}, err
	}
	if err := fill(dir); err != nil {
		return Layer{}, fmt.Errorf("layer %s: %w", name, err)
	}
	return WriteLayer(dir, filepath.Join(work, name+".tar"))
}

// installHyperkube puts the binary and a symlink per component into dir/bin.
func installHyperkube(dir, bin, hyperkube string, components []string) error {
	if err := CopyFile(hyperkube, filepath.Join(dir, bin, "hyperkube"), 0o755); err != nil {
		return err
	}
	for _, c := range components {
		if err := os.Symlink("hyperkube", filepath.Join(dir, bin, c)); err != nil {
			return err
		}
	}
	return nil
}

// InstallBusybox puts a static busybox in dir/bin with a link per applet, as busybox images do.
func InstallBusybox(ctx context.Context, dir, busybox string) error {
	if err := CopyFile(busybox, filepath.Join(dir, "bin", "busybox"), 0o755); err != nil {
		return err
	}
	out, err := command.New(busybox, "--list").Output(ctx)
	if err != nil {
		return err
	}
	for _, applet := range strings.Fields(out) {
		if applet != "busybox" {
			if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
				return err
			}
		}
	}
	return nil
}

// file is one file of the node layer.
type file struct {
	path string
	mode os.FileMode
	data string
}

// kindBaseFiles are kind v0.33.0's images/base/files that the node takes, at the same paths.
var kindBaseFiles = []struct {
	path string
	mode os.FileMode
}{
	{"usr/local/bin/entrypoint", 0o755},
	{"usr/local/bin/clean-install", 0o755},
	{"kind/bin/mount-product-files.sh", 0o755},
	{"kind/bin/undo-mount-hacks.sh", 0o755},
	{"kind/bin/create-kubelet-cgroup-v2.sh", 0o755},
	{"etc/crictl.yaml", 0o644},
	{"etc/containerd/config.toml", 0o644},
	{"etc/default/kubelet", 0o644},
	{"etc/sysctl.d/10-network-magic.conf", 0o644},
	{"etc/sysctl.d/10-network-security.conf", 0o644},
	{"etc/systemd/system/containerd.service", 0o644},
	{"etc/systemd/system/kubelet.service", 0o644},
	{"etc/systemd/system/kubelet.slice", 0o644},
	{"etc/systemd/system/undo-mount-hacks.service", 0o644},
	{"etc/systemd/system/kubelet.service.d/10-kubeadm.conf", 0o644},
	{"etc/systemd/system/kubelet.service.d/11-kind.conf", 0o644},
}

// kindEdits change kind's files where this node differs from kind's own image.
var kindEdits = map[string]func(string) string{
	// Lowering oom_score_adj needs CAP_SYS_RESOURCE; without it every pod sandbox fails ("can't
	// get final child's PID from pipe"). Restricting clamps it to the node's own.
	"etc/containerd/config.toml": func(s string) string {
		return strings.Replace(s, "restrict_oom_score_adj = false", "restrict_oom_score_adj = true", 1)
	},
	// Debian's containerd, not kind's build.
	"etc/systemd/system/containerd.service": func(s string) string {
		return strings.Replace(s, "/usr/local/bin/containerd", "/usr/bin/containerd", 1)
	},
}

// nodeFiles lays out what the node image adds to the Debian layer.
func nodeFiles(dir, kindFiles, hyperkube, gitVersion, preloadArchive, preloadDigest, cniManifest, storageManifest string) error {
	var files []file
	for _, k := range kindBaseFiles {
		data, err := os.ReadFile(filepath.Join(kindFiles, k.path))
		if err != nil {
			return fmt.Errorf("kind base files: %w", err) // a kind bump to review
		}
		if edit := kindEdits[k.path]; edit != nil {
			data = []byte(edit(string(data)))
		}
		files = append(files, file{k.path, k.mode, string(data)})
	}
	files = append(files,
		file{"etc/systemd/system/kubelet.service.d/20-hk-preload.conf", 0o644, kubeletAfterPreload},
		file{"etc/systemd/system/hk-preload-images.service", 0o644, preloadUnit},
		file{"etc/systemd/system/hk-boot-hook.service", 0o644, bootHookUnit},
		file{"kind/bin/hk-preload-images.sh", 0o755, preloadScript},
		file{"kind/images/hk-images.sha256", 0o644, preloadDigest[:16] + "\n"},
		file{"kind/version", 0o644, gitVersion + "\n"},
		file{"kind/manifests/default-cni.yaml", 0o644, cniManifest},
		file{"kind/manifests/default-storage.yaml", 0o644, storageManifest},
	)
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	for _, d := range []string{"etc/kubernetes/manifests", "etc/systemd/system/multi-user.target.wants", "etc/cni/net.d", "opt/cni", "usr/bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	for _, unit := range []string{"containerd", "kubelet", "undo-mount-hacks", "hk-preload-images", "hk-boot-hook"} {
		if err := os.Symlink("/etc/systemd/system/"+unit+".service",
			filepath.Join(dir, "etc/systemd/system/multi-user.target.wants", unit+".service")); err != nil {
			return err
		}
	}
	// containerd looks for CNI plugins in /opt/cni/bin; Debian installs them in /usr/lib/cni.
	if err := os.Symlink("/usr/lib/cni", filepath.Join(dir, "opt/cni/bin")); err != nil {
		return err
	}
	if err := CopyFile(preloadArchive, filepath.Join(dir, "kind/images/hk-images.tar"), 0o644); err != nil {
		return err
	}
	for _, d := range []string{"kind", "kind/bin", "kind/images", "kind/manifests"} {
		os.Chmod(filepath.Join(dir, d), 0o755)
	}
	return installHyperkube(dir, "usr/bin", hyperkube, []string{"kubeadm", "kubelet", "kubectl"})
}

// CopyFile copies src to dst (creating dst's directory) with mode.
func CopyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
