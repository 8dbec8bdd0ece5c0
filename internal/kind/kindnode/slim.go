package kindnode

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
)

// slimRoots are the packages of the slim base that kube-proxy and flanneld run on: what upstream's
// distroless-iptables base holds (iptables with its nft and legacy backends, nft, conntrack), with
// the libraries they depend on, instead of the node's whole Debian userland.
var slimRoots = []string{"iptables", "nftables", "conntrack"}

// slimSkip are the parts of packages an image does not need (copyright files stay: licences).
var slimSkip = []string{"usr/share/man/", "usr/share/info/", "usr/share/lintian/", "usr/share/locale/", "usr/share/bash-completion/", "usr/share/zsh/"}

// writeSlimLayer packs the files of roots and their dependencies, as dpkg lists them in rootfs,
// with the update-alternatives links that choose among them (iptables → iptables-nft).
func writeSlimLayer(ctx context.Context, rootfs string, roots []string, out string) error {
	files, err := packageFiles(rootfs, roots)
	if err != nil {
		return err
	}
	list := filepath.Join(filepath.Dir(out), filepath.Base(out)+".list")
	if err := os.WriteFile(list, []byte(strings.Join(files, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(list)
	_, err = command.New("tar", "-C", rootfs, "--numeric-owner", "--mtime=@0", "--xattrs", "--no-recursion",
		"-cf", out, "-T", list).Run(ctx)
	return err
}

// packageFiles is the sorted list of paths (relative to rootfs, with every parent directory) that
// the packages roots and their Depends and Pre-Depends install.
func packageFiles(rootfs string, roots []string) ([]string, error) {
	status, err := os.ReadFile(filepath.Join(rootfs, "var/lib/dpkg/status"))
	if err != nil {
		return nil, err
	}
	deps := map[string][]string{} // installed package → the packages it needs
	for _, stanza := range strings.Split(string(status), "\n\n") {
		fields := map[string]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, " ") {
				fields[k] = v
			}
		}
		if fields["Package"] != "" && strings.HasSuffix(fields["Status"], " installed") {
			deps[fields["Package"]] = nil
			for _, f := range []string{"Depends", "Pre-Depends"} {
				if fields[f] != "" {
					deps[fields["Package"]] = append(deps[fields["Package"]], strings.Split(fields[f], ",")...)
				}
			}
		}
	}
	name := func(dep string) string {
		dep = strings.TrimSpace(dep)
		dep, _, _ = strings.Cut(dep, " ")
		dep, _, _ = strings.Cut(dep, ":")
		return dep
	}
	seen := map[string]bool{}
	var visit func(pkg string) error
	visit = func(pkg string) error {
		if seen[pkg] {
			return nil
		}
		if _, ok := deps[pkg]; !ok {
			return fmt.Errorf("slim layer: package %s is not installed in the node rootfs", pkg)
		}
		seen[pkg] = true
		for _, d := range deps[pkg] {
			// "a | b": the first alternative installed.
			for _, alt := range strings.Split(d, "|") {
				if _, ok := deps[name(alt)]; ok {
					if err := visit(name(alt)); err != nil {
						return err
					}
					break
				}
			}
		}
		return nil
	}
	for _, r := range roots {
		if err := visit(r); err != nil {
			return nil, err
		}
	}
	set := map[string]bool{}
	add := func(p string) {
		for ; p != "." && p != "/" && !set[p]; p = path.Dir(p) {
			set[p] = true
		}
	}
	for pkg := range seen {
		data, err := os.ReadFile(filepath.Join(rootfs, "var/lib/dpkg/info", pkg+".list"))
		if os.IsNotExist(err) {
			data, err = os.ReadFile(filepath.Join(rootfs, "var/lib/dpkg/info", pkg+":amd64.list"))
		}
		if err != nil {
			return nil, fmt.Errorf("slim layer: the file list of %s: %w", pkg, err)
		}
		for _, p := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			rel, err := inRoot(rootfs, p)
			if err != nil || rel == "." || skipped(rel) {
				continue
			}
			if st, err := os.Lstat(filepath.Join(rootfs, rel)); err != nil || st.IsDir() {
				continue // directories come with the files in them
			}
			add(rel)
		}
	}
	// merged /usr: /bin, /sbin, /lib, /lib64 are links into /usr.
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		if st, err := os.Lstat(filepath.Join(rootfs, l)); err == nil && st.Mode()&os.ModeSymlink != 0 {
			set[l] = true
		}
	}
	// update-alternatives: /usr/sbin/iptables → /etc/alternatives/iptables → iptables-nft.
	alts, _ := os.ReadDir(filepath.Join(rootfs, "etc/alternatives"))
	chosen := map[string]bool{}
	for _, a := range alts {
		target, err := os.Readlink(filepath.Join(rootfs, "etc/alternatives", a.Name()))
		if err != nil {
			continue
		}
		if rel, err := inRoot(rootfs, target); err == nil && set[rel] {
			chosen["/etc/alternatives/"+a.Name()] = true
			add("etc/alternatives/" + a.Name())
		}
	}
	for _, dir := range []string{"usr/sbin", "usr/bin"} {
		entries, _ := os.ReadDir(filepath.Join(rootfs, dir))
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join(rootfs, dir, e.Name())); err == nil && chosen[target] {
				add(dir + "/" + e.Name())
			}
		}
	}
	files := make([]string, 0, len(set))
	for p := range set {
		files = append(files, p)
	}
	sort.Strings(files)
	return files, nil
}

func skipped(rel string) bool {
	for _, s := range slimSkip {
		if strings.HasPrefix(rel+"/", s) {
			return true
		}
	}
	return false
}

// inRoot is p (absolute, as seen inside rootfs) relative to rootfs, with the symlinks of its parent
// directories resolved inside rootfs (merged /usr: /lib/x → usr/lib/x). The last element stays.
func inRoot(rootfs, p string) (string, error) {
	parts := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	cur := ""
	for i, part := range parts {
		next := path.Join(cur, part)
		if i == len(parts)-1 {
			return path.Clean("./" + next), nil
		}
		for hops := 0; ; hops++ {
			target, err := os.Readlink(filepath.Join(rootfs, next))
			if err != nil {
				break
			}
			if hops > 8 {
				return "", fmt.Errorf("%s: too many links", p)
			}
			if path.IsAbs(target) {
				next = strings.TrimPrefix(path.Clean(target), "/")
			} else {
				next = path.Join(path.Dir(next), target)
			}
		}
		cur = next
	}
	return ".", nil
}
