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

// Build makes the node image of a version and patch selection and loads it into the daemon.
func Build(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	pins, err := versions.Load(o.Root, o.Version)
	if err != nil {
		return nil, err
	}
	components, err := build.ComponentsOf(o.Root, o.Version)
	if err != nil {
		return nil, err
	}
	if !contains(components, "kubeadm") {
		return nil, fmt.Errorf("the hyperkube of %s has no kubeadm: kind cannot drive it (kind node images start at v1.35 here)", o.Version)
	}
	if err := command.Require("gcc", "tar"); err != nil {
		return nil, err
	}
	res, err := build.Build(ctx, build.Options{Root: o.Root, Version: o.Version, Selection: o.Selection,
		OutDir: o.OutDir, CacheDir: o.CacheDir, Log: o.Log})
	if err != nil {
		return nil, err
	}
	gitVersion := res.Provenance.GitVersion
	tag := ImageTag(gitVersion)
	etcd, err := etcdbuild.Ensure(ctx, o.OutDir, pins.Etcd, o.Log)
	if err != nil {
		return nil, err
	}
	wanted, err := kubeadmImages(ctx, filepath.Join(res.Dir, "kubeadm"), gitVersion)
	if err != nil {
		return nil, err
	}
	mods, err := modcache.Download(ctx, KindModule)
	if err != nil {
		return nil, err
	}
	kindFiles := filepath.Join(mods[0].Dir, "images", "base", "files")

	kindCache := filepath.Join(o.OutDir, "kind")
	baseCache := o.BaseCacheDir
	if baseCache == "" {
		baseCache = kindCache
	}
	debian, err := baseLayers(ctx, baseCache, o.Log)
	if err != nil {
		return nil, err
	}
	base := debian.Node
	coreDNS := wanted["coredns"]
	if coreDNS == "" {
		return nil, fmt.Errorf("kubeadm config images list named no coredns image")
	}
	addons, err := kindaddons.Build(ctx, baseCache, coreDNS[strings.LastIndex(coreDNS, ":")+1:], o.Log)
	if err != nil {
		return nil, err
	}
	cni, err := kindaddons.CNIManifest(ctx)
	if err != nil {
		return nil, err
	}
	storage, err := kindaddons.StorageManifest(ctx, KindModule)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(kindCache, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(kindCache, ".node-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	// The images kubeadm asks for, from our binaries.
	pristine, err := tree.Materialize(ctx, pins, o.CacheDir, o.Log)
	if err != nil {
		return nil, err
	}
	pause, err := buildPause(ctx, pristine, work, wanted["pause"])
	if err != nil {
		return nil, err
	}
	hkLayer, err := stagedLayer(work, "hyperkube", func(dir string) error {
		return installHyperkube(dir, "usr/local/bin", res.Binary, components)
	})
	if err != nil {
		return nil, err
	}
	etcdLayer, err := stagedLayer(work, "etcd", func(dir string) error {
		return CopyFile(etcd, filepath.Join(dir, "usr/local/bin/etcd"), 0o755)
	})
	if err != nil {
		return nil, err
	}
	pauseLayer, err := stagedLayer(work, "pause", func(dir string) error {
		return CopyFile(pause, filepath.Join(dir, "pause"), 0o755)
	})
	if err != nil {
		return nil, err
	}
	busybox, err := stagedLayer(work, "busybox", func(dir string) error { return InstallBusybox(ctx, dir, debian.Busybox) })
	if err != nil {
		return nil, err
	}
	single := func(name, dst, src string) (Layer, error) {
		return stagedLayer(work, name, func(dir string) error { return CopyFile(src, filepath.Join(dir, dst), 0o755) })
	}
	corednsLayer, err := single("coredns", "coredns", addons.CoreDNS)
	if err != nil {
		return nil, err
	}
	flannelLayer, err := stagedLayer(work, "flannel", func(dir string) error {
		if err := CopyFile(addons.Flanneld, filepath.Join(dir, "opt/bin/flanneld"), 0o755); err != nil {
			return err
		}
		return CopyFile(addons.FlannelInstallConf, filepath.Join(dir, "opt/bin/install-conf"), 0o755)
	})
	if err != nil {
		return nil, err
	}
	cniPluginLayer, err := single("flannel-cni-plugin", "flannel", addons.FlannelCNI)
	if err != nil {
		return nil, err
	}
	localPathLayer, err := single("local-path-provisioner", "usr/local/bin/local-path-provisioner", addons.LocalPathProvisioner)
	if err != nil {
		return nil, err
	}
	path := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	labels := map[string]string{"org.opencontainers.image.version": gitVersion, "io.hk.kubernetes": o.Version}
	var images []ImageSpec
	var preloaded []string
	names := make([]string, 0, len(wanted))
	for name := range wanted {
		names = append(names, name)
	}
	sort.Strings(names) // a stable archive: same inputs, same bytes
	for _, name := range names {
		ref := wanted[name]
		spec := ImageSpec{Tags: []string{ref}, Env: path, Labels: labels}
		switch name {
		case "kube-apiserver", "kube-controller-manager", "kube-scheduler":
			spec.Layers = []Layer{hkLayer}
		case "kube-proxy":
			// iptables, nft and conntrack, as upstream's distroless-iptables base.
			spec.Layers = []Layer{debian.Slim, hkLayer}
		case "etcd":
			spec.Layers = []Layer{etcdLayer}
		case "pause":
			spec.Layers, spec.Entrypoint = []Layer{pauseLayer}, []string{"/pause"}
			// containerd's sandbox image in kind's config.toml, which may differ from kubeadm's.
			if ref != containerdSandboxImage {
				spec.Tags = append(spec.Tags, containerdSandboxImage)
			}
		case "coredns":
			spec.Layers, spec.Entrypoint = []Layer{corednsLayer}, []string{"/coredns"}
		default:
			return nil, fmt.Errorf("kubeadm asks for an image this node image does not make: %s", ref)
		}
		images = append(images, spec)
	}
	// kind's default CNI and storage, by the names their manifests use.
	addonImages := map[string]ImageSpec{
		"ghcr.io/flannel-io/flannel:" + strings.TrimPrefix(kindaddons.FlannelModule, "github.com/flannel-io/flannel@"): {
			Layers: []Layer{debian.Slim, flannelLayer}, Entrypoint: []string{"/opt/bin/flanneld"}},
		kindaddons.FlannelCNIPluginImage: {Layers: []Layer{busybox, cniPluginLayer}},
		storage.Images[0]:                {Layers: []Layer{localPathLayer}},
		storage.Images[1]:                {Layers: []Layer{busybox}},
		BusyboxImage:                     {Layers: []Layer{busybox}},
	}
	for _, ref := range append(append([]string{}, cni.Images...), append(storage.Images, BusyboxImage)...) {
		spec, ok := addonImages[ref]
		if !ok {
			return nil, fmt.Errorf("a default manifest names an image this node image does not make: %s", ref)
		}
		spec.Tags, spec.Env, spec.Labels = []string{ref}, path, labels
		images = append(images, spec)
	}
	for _, spec := range images {
		preloaded = append(preloaded, spec.Tags...)
	}
	created, err := time.Parse(time.RFC3339, pins.ReleaseTime)
	if err != nil {
		return nil, fmt.Errorf("release time of %s: %w", o.Version, err)
	}
	o.Log("node image: writing %d preloaded images", len(images))
	preloadArchive := filepath.Join(work, "hk-images.tar")
	if err := WriteArchive(preloadArchive, images, created); err != nil {
		return nil, err
	}
	preloadDigest, err := NewLayer(preloadArchive)
	if err != nil {
		return nil, err
	}

	nodeLayer, err := stagedLayer(work, "node", func(dir string) error {
		return nodeFiles(dir, kindFiles, res.Binary, gitVersion, preloadArchive, preloadDigest.Digest, cni.YAML, storage.YAML)
	})
	if err != nil {
		return nil, err
	}
	ref := Repository + ":" + tag
	node := ImageSpec{
		Tags: []string{ref}, Layers: []Layer{base, nodeLayer},
		Env:        append([]string{"container=docker"}, path...),
		Entrypoint: []string{"/usr/local/bin/entrypoint", "/sbin/init"},
		StopSignal: "SIGRTMIN+3", // systemd exits on SIGRTMIN+3; SIGTERM makes it re-execute
		Labels:     labels,
	}
	archive := filepath.Join(work, "node.tar")
	if err := WriteArchive(archive, []ImageSpec{node}, created); err != nil {
		return nil, err
	}
	o.Log("node image: docker load %s", ref)
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	load := o.Docker("load", "-q")
	load.Stdin = f
	if _, err := load.Run(ctx); err != nil {
		return nil, err
	}
	out, err := o.Docker("image", "inspect", "--format", "{{.Id}} {{.Size}}", ref).Output(ctx)
	if err != nil {
		return nil, err
	}
	r := &Result{Image: ref, GitVersion: gitVersion, Preloaded: preloaded, Elapsed: time.Since(start)}
	if _, err := fmt.Sscan(out, &r.ID, &r.SizeBytes); err != nil {
		return nil, fmt.Errorf("docker image inspect %s: %q", ref, out)
	}
	return r, nil
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
