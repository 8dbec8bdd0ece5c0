package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/kind/kindprobe"
	"github.com/hardened-hyperkube/hk/internal/kind/privatedocker"
)

// The private Docker daemon as a user runs it (hk kind daemon, then Ctrl-C): a --privileged
// container and a privileged exec start through hk's OCI runtime on this machine, whose Docker
// refuses them, and after Ctrl-C no daemon, namespace, mount or cgroup is left and the host's
// daemon, docker0, iptables rules, /etc/docker and sysctls are as they were.
func TestPrivateDockerDaemon(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("skipping: the private Docker daemon needs root")
	}
	for _, p := range []string{"dockerd", "docker", "runc", "nsenter"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("skipping: %s not installed", p)
		}
	}
	hk := buildHK(t)
	before := privatedocker.HostSnapshot()
	dir := t.TempDir()
	daemon := exec.Command(hk, "kind", "daemon")
	daemon.Dir = repoRoot(t)
	daemon.Env = append(os.Environ(), "HK_ROOT="+repoRoot(t))
	// A daemon directory of the test's own, not the one make kind-test keeps its images in.
	daemon.Env = append(daemon.Env, "HK_PRIVATE_DOCKER_DIR="+filepath.Join(dir, "docker"))
	daemon.Stderr = testLog(t)
	stdout, err := daemon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- daemon.Wait() }()
	// Ctrl-C, as a user stops it; also when the test fails early, so the daemon cleans up.
	stop := func() error {
		daemon.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			return err
		case <-time.After(2 * time.Minute):
			daemon.Process.Kill()
			return fmt.Errorf("hk kind daemon did not stop within 2 minutes of Ctrl-C")
		}
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	host, ok := strings.CutPrefix(strings.TrimSpace(line), "export DOCKER_HOST=")
	if err != nil || !ok {
		t.Fatalf("hk kind daemon printed %q (%v), want export DOCKER_HOST=...", line, err)
	}
	docker := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+host)
		if stdin != "" {
			f, err := os.Open(stdin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cmd.Stdin = f
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// An image of the static hk alone: nothing to pull.
	rootfs := filepath.Join(dir, "rootfs")
	os.MkdirAll(rootfs, 0o755)
	data, _ := os.ReadFile(hk)
	os.WriteFile(filepath.Join(rootfs, "hk"), data, 0o755)
	tarball := filepath.Join(dir, "hk.tar")
	if out, err := exec.Command("tar", "-C", rootfs, "-cf", tarball, "hk").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	docker(tarball, "import", "-", "hk-private-docker-test:1")
	// kind's node: --privileged; the wrapper must have dropped what the machine lacks.
	id := docker("", "run", "-d", "--privileged", "--entrypoint", "/hk", "hk-private-docker-test:1", "kind", "daemon")
	status := docker("", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", id)
	if strings.HasPrefix(status, "created") {
		t.Fatalf("privileged container did not start: %s", status)
	}
	// The kind probe's inside command prints the container's capabilities.
	run := docker("", "run", "--rm", "--privileged", "--entrypoint", "/hk", "hk-private-docker-test:1", kindprobe.InsideCommand)
	if !strings.Contains(run, "capEff") {
		t.Errorf("privileged container printed %q", run)
	}
	t.Logf("privileged container ran: %s", firstLine(run))

	stopped = true
	if err := stop(); err != nil {
		t.Errorf("hk kind daemon after Ctrl-C: %v", err)
	}
	netns, execRoot, cgroup := privatedocker.Names(filepath.Join(dir, "docker"))
	if _, err := os.Stat("/run/netns/" + netns); err == nil {
		t.Errorf("network namespace %s left behind", netns)
	}
	if _, err := os.Stat(execRoot); err == nil {
		t.Errorf("exec root %s left behind", execRoot)
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), dir) || strings.Contains(string(mounts), execRoot) {
		t.Errorf("mounts left under %s or %s", dir, execRoot)
	}
	if cg, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroup); len(cg) > 0 {
		t.Errorf("cgroups left behind: %v", cg)
	}
	if out, _ := exec.Command("pgrep", "-f", "dockerd.*"+dir).Output(); len(out) > 0 {
		t.Errorf("dockerd left running: %s", out)
	}
	after := privatedocker.HostSnapshot()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("host %s changed: before %q, after %q", k, v, after[k])
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// testLog is an io.Writer into the test log, for the CLI's progress lines.
func testLog(t *testing.T) writerFunc {
	return func(b []byte) (int, error) {
		t.Log(strings.TrimRight(string(b), "\n"))
		return len(b), nil
	}
}
