package kindnode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A rootfs laid out as Debian bookworm's (merged /usr, update-alternatives) with three packages:
// the slim layer takes a root, what it depends on, the alternative links that choose its
// binary, and nothing else.
func TestPackageFilesFollowsDependsAndAlternatives(t *testing.T) {
	root := t.TempDir()
	write := func(p, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	write("var/lib/dpkg/status", strings.Join([]string{
		"Package: iptables\nStatus: install ok installed\nDepends: libxtables12 (>= 1.8), libc6 | libc6.1\n",
		"Package: libxtables12\nStatus: install ok installed\nPre-Depends: libc6:any\n",
		"Package: libc6\nStatus: install ok installed\n",
		"Package: bash\nStatus: install ok installed\nDepends: libc6\n",
		"Package: removed\nStatus: deinstall ok config-files\n",
	}, "\n"))
	write("var/lib/dpkg/info/iptables.list", "/.\n/usr\n/usr/sbin\n/usr/sbin/iptables-nft\n/usr/share/man/man8/iptables.8.gz\n/usr/share/doc/iptables/copyright\n")
	write("var/lib/dpkg/info/libxtables12:amd64.list", "/.\n/lib/x86_64-linux-gnu/libxtables.so.12\n")
	write("var/lib/dpkg/info/libc6:amd64.list", "/lib64/ld-linux-x86-64.so.2\n/lib/x86_64-linux-gnu/libc.so.6\n")
	write("var/lib/dpkg/info/bash.list", "/usr/bin/bash\n")
	write("usr/sbin/iptables-nft", "")
	write("usr/share/man/man8/iptables.8.gz", "")
	write("usr/share/doc/iptables/copyright", "")
	write("usr/lib/x86_64-linux-gnu/libxtables.so.12", "")
	write("usr/lib/x86_64-linux-gnu/libc.so.6", "")
	write("usr/lib64/ld-linux-x86-64.so.2", "")
	write("usr/bin/bash", "")
	link("lib", "usr/lib")
	link("lib64", "usr/lib64")
	link("etc/alternatives/iptables", "/usr/sbin/iptables-nft")
	link("etc/alternatives/pager", "/usr/bin/less")
	link("usr/sbin/iptables", "/etc/alternatives/iptables")

	got, err := packageFiles(root, []string{"iptables"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"etc", "etc/alternatives", "etc/alternatives/iptables",
		"lib", "lib64",
		"usr", "usr/lib", "usr/lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libxtables.so.12",
		"usr/lib64", "usr/lib64/ld-linux-x86-64.so.2",
		"usr/sbin", "usr/sbin/iptables", "usr/sbin/iptables-nft",
		"usr/share", "usr/share/doc", "usr/share/doc/iptables", "usr/share/doc/iptables/copyright",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("packageFiles(iptables) (-want +got):\n%s", d)
	}
	if _, err := packageFiles(root, []string{"removed"}); err == nil || !strings.Contains(err.Error(), "removed is not installed") {
		t.Errorf("a package that is not installed: err = %v", err)
	}
}
