package upstreamtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
)

// IntegrationPackage is one of upstream's test/integration packages, with the tests of it to run
// ("" for all) and why it belongs to the series' proof.
type IntegrationPackage struct {
	Dir string // tree-relative, "./test/integration/controlplane"
	Run string // -test.run, "" for every test
	Why string
}

// Name is the package's directory under test/integration, "apiserver" or "controlplane".
func (p IntegrationPackage) Name() string {
	return strings.TrimPrefix(p.Dir, "./test/integration/")
}

// IntegrationPackages are upstream's integration packages that start kube-apiserver through the
// code the v1.37 series changes. Each starts real kube-apiservers in-process on a real etcd.
var IntegrationPackages = []IntegrationPackage{
	{Dir: "./test/integration/controlplane", Why: "start, /livez and /readyz with every post-start hook, graceful shutdown, identity leases and their garbage collection, several apiservers on one etcd (0001-0004, 0006-0009)"},
	{Dir: "./test/integration/servicecidr", Why: "the ClusterIP allocator and its repair across ServiceCIDR changes and upgrades (0004-0006)"},
	{Dir: "./test/integration/service", Why: "Services, NodePorts and the series' own test of a failed first NodePort repair (0004, 0005)"},
	{Dir: "./test/integration/auth", Run: "^(TestBootstrapping|TestDiscoveryUpgradeBootstrapping)$", Why: "the RBAC bootstrap-roles post-start hook's objects and their reconciliation (0007); the package's other 41 tests are authentication and authorization, which the series does not touch"},
	{Dir: "./test/integration/apiserver", Run: "^TestHealthHandler", Why: "health checks of the hooks and the loopback serving certificate (0001-0003); the package's other 51 tests are API features"},
}

// TestCount is what one package's run ended with.
type TestCount struct {
	Pass, Fail, Skip int
	// PackageFailed is set when the package failed outside any test (a leak check, a panic,
	// a timeout, a build error).
	PackageFailed bool
	Elapsed       float64 // seconds
	// Tests maps every top-level test to "pass", "fail" or "skip".
	Tests map[string]string
	Log   string // the test2json log
}

// ReadTestJSON counts the top-level tests of a `go test -json` / test2json stream.
func ReadTestJSON(r io.Reader) (TestCount, error) {
	c := TestCount{Tests: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev struct {
			Action  string
			Test    string
			Elapsed float64
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue // a line the binary printed outside test2json's framing
		}
		switch {
		case ev.Test == "" && (ev.Action == "pass" || ev.Action == "fail"):
			c.PackageFailed = ev.Action == "fail"
			c.Elapsed = ev.Elapsed
		case ev.Test != "" && !strings.Contains(ev.Test, "/") && (ev.Action == "pass" || ev.Action == "fail" || ev.Action == "skip"):
			c.Tests[ev.Test] = ev.Action
		}
	}
	for _, a := range c.Tests {
		switch a {
		case "pass":
			c.Pass++
		case "fail":
			c.Fail++
		case "skip":
			c.Skip++
		}
	}
	return c, sc.Err()
}

// IntegrationOptions say where the tree, etcd and the outputs are.
type IntegrationOptions struct {
	TreeDir string // a prepared tree (the selection applied)
	Etcd    string // the etcd binary the framework starts (it looks up "etcd" on PATH)
	OutDir  string // test binaries and logs go here
	Timeout time.Duration
	Log     func(format string, args ...any)
	Stdout  io.Writer // each test's output as it runs (test2json's JSON); nil: only the log file
}

// RunIntegration compiles one package's test binary in the tree and runs it in a network
// namespace of its own with only loopback up, so neither the test nor the etcd it starts can
// reach any other address, and every process it started dies with it (PID namespace).
func RunIntegration(ctx context.Context, o IntegrationOptions, p IntegrationPackage) (TestCount, error) {
	if err := command.Require("unshare", "ip"); err != nil {
		return TestCount{}, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return TestCount{}, err
	}
	bin := filepath.Join(o.OutDir, strings.ReplaceAll(p.Name(), "/", "_")+".test")
	env := []string{"GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0"}
	o.Log("upstream-integration: compiling %s in %s", p.Dir, o.TreeDir)
	if _, err := command.New("go", "test", "-c", "-trimpath", "-o", bin, p.Dir).InDir(o.TreeDir).WithEnv(env...).Run(ctx); err != nil {
		return TestCount{}, err
	}
	// test2json is not shipped prebuilt since Go 1.24: `go tool -n` builds it and prints its path.
	test2json, err := command.New("go", "tool", "-n", "test2json").InDir(o.OutDir).WithEnv("GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local").Output(ctx)
	if err != nil {
		return TestCount{}, err
	}
	logPath := filepath.Join(o.OutDir, strings.ReplaceAll(p.Name(), "/", "_")+".json")
	logFile, err := os.Create(logPath)
	if err != nil {
		return TestCount{}, err
	}
	defer logFile.Close()
	args := []string{"-test.v=test2json", "-test.count=1", fmt.Sprintf("-test.timeout=%s", o.Timeout)}
	if p.Run != "" {
		args = append(args, "-test.run", p.Run)
	}
	// unshare: a new network and PID namespace; the shell sets up the network and becomes
	// test2json, whose child is the test binary. --kill-child ends the namespace's init when we
	// are killed.
	argv := append([]string{"--net", "--pid", "--fork", "--kill-child", "sh", "-c", netnsSetup + ` && exec "$@"`, "sh",
		test2json, "-t", "-p", "k8s.io/kubernetes/" + strings.TrimPrefix(p.Dir, "./"), bin}, args...)
	srcdir, err := trimpathSources(o.TreeDir, filepath.Join(o.OutDir, "srcdir"))
	if err != nil {
		return TestCount{}, err
	}
	cmd := command.New("unshare", argv...).InDir(filepath.Join(o.TreeDir, p.Dir)).
		WithEnv("PATH="+filepath.Dir(o.Etcd)+":"+os.Getenv("PATH"), "KUBE_INTEGRATION_ETCD_URL=",
			"TEST_SRCDIR="+srcdir, "TEST_WORKSPACE="+trimpathWorkspace)
	cmd.Stdout = logFile
	if o.Stdout != nil {
		cmd.Stdout = io.MultiWriter(logFile, o.Stdout)
	}
	o.Log("upstream-integration: running %s (log %s)", p.Dir, logPath)
	_, runErr := cmd.Run(ctx)
	if ctx.Err() != nil {
		return TestCount{}, ctx.Err()
	}
	if _, err := logFile.Seek(0, io.SeekStart); err != nil {
		return TestCount{}, err
	}
	c, err := ReadTestJSON(logFile)
	c.Log = logPath
	if err != nil {
		return c, err
	}
	if runErr != nil && c.Fail == 0 {
		if len(c.Tests) == 0 {
			return c, fmt.Errorf("the test binary ran no test: %w", runErr)
		}
		c.PackageFailed = true
	}
	return c, nil
}

// netnsSetup gives the test's network namespace loopback and a default route, as a host has:
// tests that pick the default interface's address (to advertise) find 192.0.2.1 (TEST-NET-1) on
// one end of a veth pair whose other end is in the same namespace, so whatever is sent that way
// stays inside it.
const netnsSetup = `ip link set lo up && ip link add hk0 type veth peer name hk1 && ip addr add 192.0.2.1/24 dev hk0 && ` +
	`ip link set hk0 up && ip link set hk1 up && ip route add default via 192.0.2.254 dev hk0`

// trimpathWorkspace is the workspace directory under TEST_SRCDIR (see trimpathSources).
const trimpathWorkspace = "ws"

// trimpathSources makes dir/ws/<import path of each module> point at the module's directory in
// the tree and returns dir. The test binaries are built with -trimpath, as hk builds (so they
// share its compiled packages), and upstream's test servers then find their own directory (for
// certificates and testdata) the way they do under Bazel, which also trims paths:
// $TEST_SRCDIR/$TEST_WORKSPACE/<trimmed path>. In module mode a staging module's trimmed path
// carries its version (k8s.io/apiserver@v0.0.0), so both spellings are linked.
func trimpathSources(tree, dir string) (string, error) {
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	base := filepath.Join(dir, trimpathWorkspace, "k8s.io")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	if err := os.Symlink(tree, filepath.Join(base, "kubernetes")); err != nil {
		return "", err
	}
	staging, err := os.ReadDir(filepath.Join(tree, "staging", "src", "k8s.io"))
	if err != nil {
		return "", err
	}
	for _, m := range staging {
		target := filepath.Join(tree, "staging", "src", "k8s.io", m.Name())
		for _, name := range []string{m.Name(), m.Name() + "@v0.0.0"} {
			if err := os.Symlink(target, filepath.Join(base, name)); err != nil {
				return "", err
			}
		}
	}
	return dir, nil
}

// Comparison is the verdict on one package run on the unpatched and the patched tree.
type Comparison struct {
	Package            string
	Unpatched, Patched TestCount
	// Regressions pass unpatched and do not pass patched; SeriesOnly exist only in the patched
	// tree (the series' own tests); Failing did not pass on either.
	Regressions, SeriesOnly, Failing []string
}

// Same reports whether the series changed nothing upstream's tests see: no regression, every
// test the series adds passes, nothing fails on either tree and both packages ended well.
func (c Comparison) Same() bool {
	if len(c.Regressions) > 0 || len(c.Failing) > 0 || c.Unpatched.PackageFailed || c.Patched.PackageFailed {
		return false
	}
	for _, t := range c.SeriesOnly {
		if c.Patched.Tests[t] == "fail" {
			return false
		}
	}
	return true
}

// Compare lines the two runs of a package up test by test.
func Compare(pkg string, unpatched, patched TestCount) Comparison {
	c := Comparison{Package: pkg, Unpatched: unpatched, Patched: patched}
	for name, got := range patched.Tests {
		before, ok := unpatched.Tests[name]
		switch {
		case !ok:
			c.SeriesOnly = append(c.SeriesOnly, name)
		case before == "pass" && got != "pass":
			c.Regressions = append(c.Regressions, name)
		case before == "fail" || got == "fail":
			c.Failing = append(c.Failing, name)
		}
	}
	for name, before := range unpatched.Tests {
		if _, ok := patched.Tests[name]; !ok && before == "pass" {
			c.Regressions = append(c.Regressions, name+" (gone)")
		}
	}
	sort.Strings(c.Regressions)
	sort.Strings(c.SeriesOnly)
	sort.Strings(c.Failing)
	return c
}
