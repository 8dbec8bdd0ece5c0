package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// The test binary re-executes itself: once to install the filter and exec, once to probe.
const (
	execEnv  = "HK_SANDBOX_TEST_EXEC_WITHOUT_IPV6"
	probeEnv = "HK_SANDBOX_TEST_PROBE_IPV6"
	refused  = 42
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(execEnv) == "1":
		os.Unsetenv(execEnv)
		_ = ExecWithoutIPv6([]string{os.Args[0]})
		os.Exit(1)
	case os.Getenv(probeEnv) == "1":
		fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM, 0)
		if errors.Is(err, syscall.EAFNOSUPPORT) {
			os.Exit(refused)
		}
		if err == nil {
			_ = syscall.Close(fd)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func probe(t *testing.T, env ...string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), probeEnv+"=1"), env...)
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestExecWithoutIPv6RefusesIPv6Sockets(t *testing.T) {
	if code := probe(t); code != 0 {
		t.Skipf("this host refuses AF_INET6 sockets already (exit %d): nothing to compare", code)
	}
	if code := probe(t, execEnv+"=1"); code != refused {
		t.Errorf("expected socket(AF_INET6) to fail with EAFNOSUPPORT under the filter (exit %d), got exit %d", refused, code)
	}
}
