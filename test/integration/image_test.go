package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/proof/resolveprobe"
	"github.com/hardened-hyperkube/hk/internal/publish/image"
)

func requireDocker(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: building images needs root (the Docker socket)")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skipf("skipping: no Docker engine here: %v", err)
	}
}

// probe runs the static hk's resolver probe inside image with IPv6 off and no network but the
// container's own loopback, whose resolv.conf names a blackhole the probe serves itself.
func probe(t *testing.T, hk, img string) resolveprobe.Report {
	t.Helper()
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 127.0.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("docker", "run", "--rm", "--network", "none",
		"--sysctl", "net.ipv6.conf.all.disable_ipv6=1",
		"-v", hk+":/hk:ro", "-v", resolv+":/etc/resolv.conf:ro",
		"--entrypoint", "/hk", img, resolveprobe.Command, "--timeout", "12s").Output()
	if err != nil {
		t.Fatalf("probe in %s: %v", img, err)
	}
	var r resolveprobe.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("probe output %q: %v", out, err)
	}
	t.Logf("%s: %s", img, r.String())
	return r
}

// The product image resolves localhost from /etc/hosts, without asking DNS, whatever
// nsswitch.conf its base had — absent (Alpine <= 3.15), DNS-first, or already files-first.
func TestImageResolvesFilesFirstOnEveryBase(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	bin := filepath.Join(repoRoot(t), "out", builds["patched"])
	if _, err := os.Stat(bin); err != nil {
		notBuilt(t, "%s not built (run `make hyperkube`)", bin)
	}
	hk := buildHK(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	for _, variant := range image.BaseNames() {
		t.Run(variant, func(t *testing.T) {
			base, err := image.BuildBase(ctx, variant, t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			tag := "hk-test-hyperkube:" + variant
			t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
			err = image.Build(ctx, image.BuildOptions{Root: repoRoot(t), BinaryDir: filepath.Dir(bin), Version: version,
				Base: base, Tag: tag, Revision: "test", Source: "test", Log: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			got := probe(t, hk, tag)
			if got.NSSwitchHosts != "hosts: files dns" {
				t.Errorf("image nsswitch hosts line %q, want \"hosts: files dns\"", got.NSSwitchHosts)
			}
			if len(got.Queries) != 0 || !slices.Contains(got.Addrs, "127.0.0.1") {
				t.Errorf("image resolved localhost to %v with %d DNS queries (%s); want 127.0.0.1 and none",
					got.Addrs, len(got.Queries), got.Error)
			}
			if variant == "dns-first" {
				// The control: the probe does see DNS-first lookups, in the base itself.
				ctl := probe(t, hk, base)
				if len(ctl.Queries) == 0 || ctl.NSSwitchHosts != "hosts: dns files" {
					t.Errorf("base %s should ask DNS first: %s", base, ctl.String())
				}
			}
			out, err := exec.Command("docker", "run", "--rm", "--entrypoint", "/usr/local/bin/kube-apiserver", tag, "--version").CombinedOutput()
			if err != nil || !strings.Contains(string(out), version) {
				t.Errorf("kube-apiserver symlink in the image: %v %q", err, out)
			}
		})
	}
}

// docs/image.md's plain `docker build` line, run from the repository root as a new user would
// after `make hyperkube`, with a local base (no registry here): the build context must hold
// out/<version>/hyperkube and not out/trees.
func TestDocsDockerBuildCommand(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	bin := filepath.Join(repoRoot(t), "out", builds["patched"])
	if _, err := os.Stat(bin); err != nil {
		notBuilt(t, "%s not built (run `make hyperkube`)", bin)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "image.md"))
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(l, "docker build -f images/Dockerfile.alpine") {
			line, _, _ = strings.Cut(l, "#")
			break
		}
	}
	if line == "" {
		t.Fatal("docs/image.md has no line starting `docker build -f images/Dockerfile.alpine`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	base, err := image.BuildBase(ctx, "no-nsswitch", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Fields(line)[1:]
	tag := "hk-test-readme:" + version
	for i := range args {
		if args[i] == "-t" && i+1 < len(args) {
			args[i+1] = tag // the page's own tag is the user's; do not replace it
		}
	}
	args = append(args[:len(args)-1], "--build-arg", "BASE="+base, args[len(args)-1])
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if strings.Contains(string(out), "Sending build context to Docker daemon") {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "Sending build context") {
				l = strings.TrimRight(l, "\r")
				t.Logf("%s", strings.TrimSpace(l[strings.LastIndex(l, "\r")+1:]))
			}
		}
	}
	run, err := exec.Command("docker", "run", "--rm", "--entrypoint", "/bin/sh", tag, "-c",
		"grep '^hosts:' /etc/nsswitch.conf; kube-apiserver --version").CombinedOutput()
	if err != nil || !strings.Contains(string(run), "hosts: files dns") || !strings.Contains(string(run), "Kubernetes "+version) {
		t.Errorf("image built by docs/image.md's command: %v\n%s", err, run)
	}
}
