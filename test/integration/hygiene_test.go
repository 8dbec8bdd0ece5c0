package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/proof/lab"
)

// processesMentioning returns the command lines of processes whose arguments contain marker.
func processesMentioning(marker string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if cmdline := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cmdline, marker) {
			found = append(found, e.Name()+": "+cmdline)
		}
	}
	return found
}

func mountsMentioning(marker string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var found []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, marker) {
			found = append(found, l)
		}
	}
	return found
}

// startRun starts `hk lab run` with its work directory under a fresh TMPDIR, which marks every
// process and mount of the run, and waits until the apiserver inside is running.
func startRun(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	bin := binary(t, "patched")
	etcd := etcdBinary(t)
	hk := buildHK(t)
	marker := t.TempDir()
	cmd := exec.Command(hk, "lab", "run", "--binary", bin, "--etcd", etcd, "--profile", "field", "--hold", "10m")
	cmd.Env = append(os.Environ(), "TMPDIR="+marker, "HK_ROOT="+repoRoot(t))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		var apiserver bool
		for _, p := range processesMentioning(marker) {
			apiserver = apiserver || strings.Contains(p, "kube-apiserver")
		}
		if apiserver {
			return cmd, marker
		}
		if time.Now().After(deadline) {
			t.Fatal("the apiserver never started inside the sandbox")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func assertNothingLeft(t *testing.T, marker string) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if left = processesMentioning(marker); len(left) == 0 {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("processes outlived the run:\n%s", strings.Join(left, "\n"))
	}
	if m := mountsMentioning(marker); len(m) > 0 {
		t.Errorf("mounts leaked into the host:\n%s", strings.Join(m, "\n"))
	}
}

// Ctrl-C: the runner stops the apiserver, then etcd, removes its work directory and exits.
func TestInterruptedRunLeavesNothing(t *testing.T) {
	t.Parallel()
	cmd, marker := startRun(t)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("expected a non-zero exit after Ctrl-C")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("hk lab run did not exit within 60s of Ctrl-C")
	}
	assertNothingLeft(t, marker)
	if entries, _ := filepath.Glob(filepath.Join(marker, "hk-lab-*")); len(entries) > 0 {
		t.Errorf("work directory left behind: %v", entries)
	}
}

// SIGKILL of the runner: no cleanup code runs, yet the kernel ends the sandbox (PDEATHSIG on
// its init, and the init is PID 1 of its PID namespace).
func TestKilledRunnerLeavesNoProcesses(t *testing.T) {
	t.Parallel()
	cmd, marker := startRun(t)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	assertNothingLeft(t, marker)
}

// A short power-cycle soak in CI; `make soak` runs the 50-boot version.
func TestPowerCycleSoakPatched(t *testing.T) {
	t.Parallel()
	p, err := lab.LookupProfile("field")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := lab.Run(ctx, lab.Options{Binary: binary(t, "patched"), Etcd: etcdBinary(t), Profile: p,
		Deadline: 60 * time.Second, Hold: 2 * time.Second, Boots: 5, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summarize()
	t.Logf("soak: %d boots, %d ready, %d exited, slowest ready %.1fs", s.Boots, s.Ready, s.Exited, s.SlowestReady)
	if s.Boots != 5 || s.Ready != 5 {
		for i, b := range res.Boots {
			t.Logf("boot %d: %s", i+1, describe(b))
		}
		t.Fatalf("expected 5/5 boots ready after power cuts, got %d/%d", s.Ready, s.Boots)
	}
}
