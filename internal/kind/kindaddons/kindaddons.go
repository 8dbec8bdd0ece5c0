// Package kindaddons builds, offline, what a default kind cluster runs besides Kubernetes itself,
// each from its own project's source as the Go module proxy serves it: CoreDNS (kubeadm's DNS
// addon), flannel with the flannel CNI plugin (pod networking across nodes, kind's default CNI
// here), and local-path-provisioner (kind's default StorageClass). It also returns the manifests
// kind applies from the node image (/kind/manifests/default-cni.yaml, default-storage.yaml), taken
// from flannel's and kind's own sources with the few edits this build needs. It builds binaries and
// reads manifests; internal/kind/kindnode turns them into images.
package kindaddons

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/filelock"
	"github.com/hardened-hyperkube/hk/internal/source/modcache"
)

// The projects' versions. CoreDNS is not here: kubeadm names the version it deploys.
const (
	// FlannelModule is flannel's release, whose kube-flannel.yml is the CNI manifest.
	FlannelModule = "github.com/flannel-io/flannel@v0.28.10"
	// CNIPluginsModule carries the flannel CNI plugin (plugins/meta/flannel) in its last release
	// before the plugin moved to github.com/flannel-io/cni-plugin, which no registry reachable
	// here serves. The plugin speaks CNI up to 0.4.0, so the manifest's conflist says 0.3.1.
	CNIPluginsModule = "github.com/containernetworking/plugins@v0.9.1"
	// LocalPathModule is rancher's local-path-provisioner: the newest release the proxy serves
	// (kind v0.33 builds v0.0.34 into kindest/local-path-provisioner).
	LocalPathModule = "github.com/rancher/local-path-provisioner@v0.0.30"
)

// cloudPlugins are CoreDNS plugins for cloud providers' DNS services, left out of our build
// (a default cluster's Corefile uses none of them, and they link three cloud SDKs).
var cloudPlugins = []string{"route53", "azure", "clouddns"}

// Binaries are the built programs.
type Binaries struct {
	CoreDNS, Flanneld, FlannelInstallConf, FlannelCNI, LocalPathProvisioner string
	// CoreDNSVersion and the module versions above, for image tags and docs/kind.md.
	CoreDNSVersion string
}

// Build builds every addon, or takes it from cacheDir where the same inputs (module, package,
// flags and Go version) were built before.
func Build(ctx context.Context, cacheDir, coreDNSVersion string, log func(string, ...any)) (*Binaries, error) {
	if !strings.HasPrefix(coreDNSVersion, "v1.") {
		return nil, fmt.Errorf("CoreDNS version %q is not v1.x", coreDNSVersion)
	}
	goVersion, err := command.New("go", "env", "GOVERSION").Output(ctx)
	if err != nil {
		return nil, err
	}
	b := &Binaries{CoreDNSVersion: coreDNSVersion}
	flannelVersion := version(FlannelModule)
	for _, p := range []struct {
		dst                 *string
		module, pkg, ldflag string
		edit                *sourceEdit
	}{
		{&b.Flanneld, FlannelModule, ".", "-X github.com/flannel-io/flannel/pkg/version.Version=" + flannelVersion, withoutBackends},
		{&b.FlannelInstallConf, FlannelModule, "./cmd/install_conf", "", nil},
		{&b.FlannelCNI, CNIPluginsModule, "./plugins/meta/flannel", "", nil},
		{&b.LocalPathProvisioner, LocalPathModule, ".", "-X main.VERSION=" + version(LocalPathModule), nil},
	} {
		if *p.dst, err = goProgram(ctx, cacheDir, goVersion, p.module, p.pkg, p.ldflag, p.edit, log); err != nil {
			return nil, err
		}
	}
	coredns := "github.com/coredns/coredns@" + coreDNSVersion
	if b.CoreDNS, err = goProgram(ctx, cacheDir, goVersion, coredns, ".",
		"-X github.com/coredns/coredns/coremain.GitCommit="+coreDNSVersion, withoutCloudPlugins, log); err != nil {
		return nil, err
	}
	return b, nil
}

func version(module string) string { _, v, _ := strings.Cut(module, "@"); return v }

// goProgram builds one main package of a module, statically and reproducibly (-trimpath, no cgo,
// no VCS stamp), in a writable copy of the module's source so edit can change it first. The
// module's own go.mod and go.sum decide every dependency; the go command verifies each against
// the checksum database as it downloads it.
func goProgram(ctx context.Context, cacheDir, goVersion, module, pkg, ldflags string, edit *sourceEdit, log func(string, ...any)) (string, error) {
	name := filepath.Base(strings.TrimSuffix(module[:strings.Index(module, "@")], "/"))
	if pkg != "." {
		name = filepath.Base(pkg)
	}
	editName := ""
	if edit != nil {
		editName = edit.name
	}
	key := sha256.Sum256([]byte(strings.Join([]string{module, pkg, ldflags, goVersion, runtime.GOARCH, editName}, "\n")))
	dir := filepath.Join(cacheDir, "addons", name+"-"+version(module)+"-"+hex.EncodeToString(key[:6]))
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	unlock, err := filelock.Lock(dir+".lock", nil)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil { // built while we waited
		return bin, nil
	}
	mods, err := modcache.Download(ctx, module)
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "src")
	// The module cache is read-only; cp -r gives a writable copy.
	if _, err := command.New("cp", "-r", mods[0].Dir, src).Run(ctx); err != nil {
		return "", err
	}
	if _, err := command.New("chmod", "-R", "u+w", src).Run(ctx); err != nil {
		return "", err
	}
	if edit != nil {
		if err := edit.apply(ctx, src); err != nil {
			return "", fmt.Errorf("%s %s: %w", module, edit.name, err)
		}
	}
	log("addons: go build %s %s", module, pkg)
	out := filepath.Join(tmp, "out", name)
	if _, err := command.New("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", strings.TrimSpace("-s -w "+ldflags), "-o", out, pkg).
		InDir(src).WithEnv(goEnv...).Run(ctx); err != nil {
		return "", fmt.Errorf("build %s %s: %w", module, pkg, err)
	}
	if err := os.Rename(filepath.Join(tmp, "out"), dir); err != nil {
		return "", err
	}
	return bin, nil
}

// goEnv builds in module mode against the module's own go.mod, statically, with this machine's Go.
var goEnv = []string{"GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOTOOLCHAIN=local"}

// sourceEdit changes a module's source before it is built; its name, part of the cache key, says
// what it does, so a changed edit is a new build.
type sourceEdit struct {
	name  string
	apply func(ctx context.Context, src string) error
}

// withoutCloudPlugins drops the cloud providers' plugins from CoreDNS's plugin.cfg and regenerates
// the plugin list and directive order from it, as CoreDNS's own `go generate` does.
var withoutCloudPlugins = &sourceEdit{"without plugins " + strings.Join(cloudPlugins, ","), dropCloudPlugins}

func dropCloudPlugins(ctx context.Context, src string) error {
	cfg := filepath.Join(src, "plugin.cfg")
	data, err := os.ReadFile(cfg)
	if err != nil {
		return err
	}
	var kept []string
	dropped := 0
	for _, line := range strings.Split(string(data), "\n") {
		name, _, _ := strings.Cut(line, ":")
		if slices.Contains(cloudPlugins, strings.TrimSpace(name)) {
			dropped++
			continue
		}
		kept = append(kept, line)
	}
	if dropped != len(cloudPlugins) {
		return fmt.Errorf("plugin.cfg names %d of the cloud plugins %v: review the CoreDNS release", dropped, cloudPlugins)
	}
	if err := os.WriteFile(cfg, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		return err
	}
	_, err = command.New("go", "run", "directives_generate.go").InDir(src).
		WithEnv(goEnv...).Run(ctx)
	return err
}

// droppedBackends are flannel backends our static build leaves out: Tencent Cloud VPC (a cloud
// provider's, whose SDK no registry reachable here serves) and udp (cgo on amd64; flannel's docs
// call it a debugging backend). host-gw, vxlan, ipip, wireguard, ipsec and the rest stay.
var droppedBackends = []string{"tencentvpc", "udp"}

var withoutBackends = &sourceEdit{"without backends " + strings.Join(droppedBackends, ","), dropBackends}

func dropBackends(_ context.Context, src string) error {
	main := filepath.Join(src, "main.go")
	data, err := os.ReadFile(main)
	if err != nil {
		return err
	}
	s := string(data)
	for _, b := range droppedBackends {
		imp := "\t_ \"github.com/flannel-io/flannel/pkg/backend/" + b + "\"\n"
		if !strings.Contains(s, imp) {
			return fmt.Errorf("flannel's main.go no longer imports the %s backend: review the release", b)
		}
		s = strings.Replace(s, imp, "", 1)
	}
	return os.WriteFile(main, []byte(s), 0o644)
}
