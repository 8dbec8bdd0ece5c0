package kindnode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/filelock"
)

// Debian is where the node's userland comes from: the suite and mirror apt on this machine uses.
const (
	debianSuite  = "bookworm"
	debianMirror = "http://deb.debian.org/debian"
)

// basePackages are kind's base image packages (images/base/Dockerfile) that Debian bookworm has,
// with containerd, runc and the CNI plugins from Debian instead of kind's own builds.
var basePackages = []string{
	"systemd", "systemd-sysv", "dbus",
	"conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux", "mount", "kmod",
	"libseccomp2", "e2fsprogs", "bash", "ca-certificates", "procps", "socat", "jq",
	"containerd", "runc", "containernetworking-plugins",
	// Not kind's: the shell and tools of the storage helper image and of our test pods.
	"busybox-static",
}

// baseKey names a base rootfs by everything that decides its contents.
func baseKey() string {
	sum := sha256.Sum256([]byte(strings.Join(append([]string{debianSuite, debianMirror, "minbase"}, basePackages...), "\n")))
	return hex.EncodeToString(sum[:6])
}

// debianBase is what the node image takes from Debian: the node's userland, the slim iptables
// base of kube-proxy and flannel, and busybox.
type debianBase struct {
	Node, Slim Layer
	Busybox    string // a static busybox binary
}

// baseLayers returns the Debian layers of the node image: a tar of a debootstrap'd rootfs prepared
// the way kind's base image is, the slim layer cut from it (writeSlimLayer) and its busybox, built
// once and kept under cacheDir. Package versions are those of the mirror on the day it was built;
// packages.txt next to it lists them.
func baseLayers(ctx context.Context, cacheDir string, log func(string, ...any)) (debianBase, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return debianBase{}, err
	}
	// One debootstrap at a time: a second build waits and then finds the first one's layer.
	unlock, err := filelock.Lock(filepath.Join(cacheDir, "base.lock"), nil)
	if err != nil {
		return debianBase{}, err
	}
	defer unlock()
	dir := filepath.Join(cacheDir, "base-"+debianSuite+"-"+baseKey())
	if data, err := os.ReadFile(filepath.Join(dir, "layers.json")); err == nil {
		var b debianBase
		if json.Unmarshal(data, &b) == nil && filepath.Dir(b.Node.Path) == dir && filepath.Dir(b.Slim.Path) == dir {
			return b, nil
		}
	}
	if err := command.Require("debootstrap", "tar"); err != nil {
		return debianBase{}, fmt.Errorf("%w (make kind-test installs it: scripts/install-deps.sh kind)", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".base-")
	if err != nil {
		return debianBase{}, err
	}
	defer os.RemoveAll(tmp)
	rootfs := filepath.Join(tmp, "rootfs")
	log("node image: debootstrap %s minbase (%d packages) from %s", debianSuite, len(basePackages), debianMirror)
	if _, err := command.New("debootstrap", "--variant=minbase", "--include="+strings.Join(basePackages, ","),
		debianSuite, rootfs, debianMirror).Run(ctx); err != nil {
		return debianBase{}, err
	}
	if err := prepareBase(ctx, rootfs); err != nil {
		return debianBase{}, fmt.Errorf("prepare the node rootfs: %w", err)
	}
	pkgs, err := command.New("chroot", rootfs, "dpkg-query", "-W", "-f", "${Package} ${Version}\n").Output(ctx)
	if err != nil {
		return debianBase{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "packages.txt"), []byte(pkgs+"\n"), 0o644); err != nil {
		return debianBase{}, err
	}
	log("node image: packing the base layer and the slim iptables layer")
	if _, err := command.New("tar", "-C", rootfs, "--numeric-owner", "--sort=name", "--mtime=@0", "--xattrs",
		"-cf", filepath.Join(tmp, "layer.tar"), ".").Run(ctx); err != nil {
		return debianBase{}, err
	}
	if err := writeSlimLayer(ctx, rootfs, slimRoots, filepath.Join(tmp, "slim.tar")); err != nil {
		return debianBase{}, err
	}
	if err := CopyFile(filepath.Join(rootfs, "usr/bin/busybox"), filepath.Join(tmp, "busybox"), 0o755); err != nil {
		return debianBase{}, err
	}
	if err := os.RemoveAll(rootfs); err != nil {
		return debianBase{}, err
	}
	var b debianBase
	for _, l := range []struct {
		dst  *Layer
		name string
	}{{&b.Node, "layer.tar"}, {&b.Slim, "slim.tar"}} {
		if *l.dst, err = NewLayer(filepath.Join(tmp, l.name)); err != nil {
			return debianBase{}, err
		}
		l.dst.Path = filepath.Join(dir, l.name)
	}
	b.Busybox = filepath.Join(dir, "busybox")
	data, _ := json.Marshal(b)
	if err := os.WriteFile(filepath.Join(tmp, "layers.json"), data, 0o644); err != nil {
		return debianBase{}, err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return debianBase{}, err
	}
	return b, nil
}

// prepareBase does what kind's base Dockerfile does after installing packages: no units that
// make no sense in a container, no kernel log in journald, binfmt masked (kernel-global), the CRI
// base runtime spec, and no apt caches or machine identity.
func prepareBase(ctx context.Context, rootfs string) error {
	r := func(p string) string { return filepath.Join(rootfs, p) }
	for _, pattern := range []string{
		"lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service",
		"lib/systemd/system/multi-user.target.wants/*",
		"etc/systemd/system/*.wants/*",
		"lib/systemd/system/local-fs.target.wants/*",
		"lib/systemd/system/sockets.target.wants/*udev*",
		"lib/systemd/system/sockets.target.wants/*initctl*",
		"lib/systemd/system/basic.target.wants/*",
		"var/cache/apt/archives/*.deb",
		"var/lib/apt/lists/*",
	} {
		matches, _ := filepath.Glob(r(pattern))
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	j, err := os.OpenFile(r("etc/systemd/journald.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	fmt.Fprintln(j, "ReadKMsg=no")
	j.Close()
	os.Remove(r("etc/systemd/system/systemd-binfmt.service"))
	if err := os.Symlink("/dev/null", r("etc/systemd/system/systemd-binfmt.service")); err != nil {
		return err
	}
	if err := os.WriteFile(r("etc/machine-id"), nil, 0o444); err != nil {
		return err
	}
	// containerd's default spec plus kind's product-files hook, without rlimits (kind does the
	// same with jq).
	spec, err := command.New("chroot", rootfs, "ctr", "oci", "spec").Output(ctx)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(spec), &doc); err != nil {
		return fmt.Errorf("ctr oci spec: %w", err)
	}
	hooks, _ := doc["hooks"].(map[string]any)
	if hooks == nil {
		hooks = map[string]any{}
		doc["hooks"] = hooks
	}
	created, _ := hooks["createContainer"].([]any)
	hooks["createContainer"] = append(created, map[string]any{"path": "/kind/bin/mount-product-files.sh"})
	if p, ok := doc["process"].(map[string]any); ok {
		delete(p, "rlimits")
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r("etc/containerd"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(r("etc/containerd/cri-base.json"), data, 0o644)
}
