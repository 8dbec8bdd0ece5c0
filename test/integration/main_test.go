// Package integration boots real etcd and kube-apiserver binaries in namespace sandboxes and
// asserts what the lab measures. The tests need root and the binaries `make lab-binaries`
// builds; without them they skip and say why.
package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/proof/lab"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

const version = "v1.37.2"

// TestMain lets the test binary act as the sandbox's init and run the lab's other hidden
// commands: lab.Run re-executes the running binary with them (lab.HiddenCommands).
func TestMain(m *testing.M) {
	if main, ok := lab.HiddenCommands[firstArg()]; ok {
		os.Exit(main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// builds names the binaries under out/ that the tests boot: the hyperkube we ship, and for the
// controls kube-apiserver alone (the lab boots nothing else; make lab-binaries builds them).
var builds = map[string]string{
	"patched":      version + "/hyperkube",                                     // the whole series
	"unpatched":    version + "-unpatched-kube-apiserver/kube-apiserver",       // upstream as is: the control
	"repair-retry": version + "-no-loopback-fix-kube-apiserver/kube-apiserver", // the series without the loopback fix
}

// notBuilt skips a test whose binary is missing, or fails it under HK_REQUIRE_BINARIES=1, which
// make test sets: there a missing build is a broken pipeline, not a reason to prove less.
func notBuilt(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("HK_REQUIRE_BINARIES") == "1" {
		t.Fatalf("HK_REQUIRE_BINARIES=1: "+format, args...)
	}
	t.Skipf("skipping: "+format, args...)
}

// binary returns the apiserver binary of a build, or skips the test.
func binary(t *testing.T, build string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: the lab needs root (network, mount and PID namespaces); CI runs it as root")
	}
	p := filepath.Join(repoRoot(t), "out", builds[build])
	if _, err := os.Stat(p); err != nil {
		notBuilt(t, "%s not built (run `make lab-binaries`): %v", p, err)
	}
	return p
}

func etcdBinary(t *testing.T) string {
	t.Helper()
	pins, err := versions.Load(repoRoot(t), version)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(repoRoot(t), "out", "etcd", pins.Etcd, "etcd")
	if _, err := os.Stat(p); err != nil {
		notBuilt(t, "%s not built (run `make lab-binaries`): %v", p, err)
	}
	return p
}

// boot runs one lab boot of a build of v1.37.2 and logs the record.
func boot(t *testing.T, build, profile string, hold time.Duration, tweak func(*lab.Profile)) lab.Boot {
	t.Helper()
	return bootBinary(t, binary(t, build), etcdBinary(t), profile, hold, tweak)
}

// bootBinary runs one lab boot of any apiserver binary and logs the record.
func bootBinary(t *testing.T, bin, etcd, profile string, hold time.Duration, tweak func(*lab.Profile)) lab.Boot {
	t.Helper()
	return bootWith(t, lab.Options{Binary: bin, Etcd: etcd, Deadline: 150 * time.Second, Hold: hold}, profile, tweak)
}

// bootWith runs one lab boot with o (its Profile set from profile and tweak) and logs the record.
func bootWith(t *testing.T, o lab.Options, profile string, tweak func(*lab.Profile)) lab.Boot {
	t.Helper()
	p, err := lab.LookupProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(&p)
	}
	o.Profile, o.Log = p, t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := lab.Run(ctx, o)
	if err != nil {
		t.Fatalf("lab run %s × %s: %v", o.Binary, profile, err)
	}
	var rec writerFunc = func(b []byte) (int, error) { t.Log(string(b)); return len(b), nil }
	lab.WriteRecord(rec, res)
	if len(res.Boots) != 1 {
		t.Fatalf("expected one boot, got %d (error %q)", len(res.Boots), res.Error)
	}
	return res.Boots[0]
}

// storm starts n apiservers of a build together on one etcd and returns the run.
func storm(t *testing.T, build, profile string, n int, tweak func(*lab.Profile)) *lab.Result {
	t.Helper()
	p, err := lab.LookupProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(&p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := lab.Run(ctx, lab.Options{Binary: binary(t, build), Etcd: etcdBinary(t), Profile: p,
		Deadline: 150 * time.Second, Apiservers: n, Log: t.Logf})
	if err != nil {
		t.Fatalf("lab storm %s × %s: %v", build, profile, err)
	}
	if len(res.Boots) != n {
		t.Fatalf("expected %d apiservers, got %d (error %q)", n, len(res.Boots), res.Error)
	}
	return res
}

// buildHK compiles the CLI without cgo, so a test can interrupt it like a user would, and it
// runs in any image resolving names with Go's own resolver, as the apiserver does.
func buildHK(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hk")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/hk")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build hk: %v\n%s", err, b)
	}
	return out
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func describe(b lab.Boot) string {
	return fmt.Sprintf("outcome=%s ready=%.1fs exited=%.1fs fatal=%q dns=%d loopback=%s",
		b.Outcome, b.ReadyAfter, b.ExitedAfter, b.FatalLine, b.DNSQueries, b.LoopbackHost)
}

// firstArg is the binary's first argument, "" if none.
func firstArg() string {
	if len(os.Args) < 2 {
		return ""
	}
	return os.Args[1]
}
