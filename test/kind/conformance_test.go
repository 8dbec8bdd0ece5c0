package kind

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/kind/kindcluster"
	"github.com/hardened-hyperkube/hk/internal/kind/kindnode"
	"github.com/hardened-hyperkube/hk/internal/kind/privatedocker"
	"github.com/hardened-hyperkube/hk/internal/upstream/conformance"
)

// TestConformance runs upstream's conformance suite, built offline from the pinned tree (hk
// conformance build), on kind clusters of one control plane and two workers:
//   - HK_CONFORMANCE=full (make conformance): the whole suite on our patched build and on the
//     unpatched control; every test that does not pass must be explained (conformance.Explained)
//     and the two builds' non-passing sets must be identical.
//   - HK_CONFORMANCE=hazard (make conformance-hazard): the whole suite on a patched cluster that
//     came back from a power cut under the field hazard, nameservers still blackholed.
//   - HK_CONFORMANCE=smoke (make conformance-smoke, in make test): conformance.Smoke on the
//     patched cluster; every test must pass.
//   - HK_CONFORMANCE=rerun (make conformance-rerun): for each build, the tests that did not pass
//     in its last full run (results/<build>-full/summary.json), on a new cluster.
//
// HK_KIND_VERSION picks another release (v1.36.3); HK_CONFORMANCE_BUILDS=patched,unpatched which
// builds run; HK_CONFORMANCE_PROCS the parallel part's ginkgo processes. Results land in
// out/conformance/<version>/results/<build>-<mode>/ (parallel/ and serial/: e2e.log, junit_01.xml;
// summary.json).
func TestConformance(t *testing.T) {
	mode := os.Getenv("HK_CONFORMANCE")
	switch mode {
	case "":
		t.Skip("skipping: upstream's conformance suite on kind clusters; make conformance-smoke (HK_CONFORMANCE=smoke), make conformance (=full), make conformance-hazard (=hazard)")
	case "smoke", "full", "hazard", "rerun":
	default:
		t.Fatalf("HK_CONFORMANCE=%q: want smoke, full or hazard", mode)
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: kind on this machine needs root (a private Docker daemon)")
	}
	version := envOr("HK_KIND_VERSION", "v1.37.2")
	builds := map[string][]string{"smoke": {"patched"}, "full": {"patched", "unpatched"}, "hazard": {"patched"}, "rerun": {"patched", "unpatched"}}[mode]
	if b := os.Getenv("HK_CONFORMANCE_BUILDS"); b != "" {
		builds = strings.Split(b, ",")
	}
	procs, err := strconv.Atoi(envOr("HK_CONFORMANCE_PROCS", "4"))
	if err != nil || procs < 1 {
		t.Fatalf("HK_CONFORMANCE_PROCS=%q: want a positive number", os.Getenv("HK_CONFORMANCE_PROCS"))
	}
	ctx := context.Background()
	root := repoRoot(t)
	hk := buildHK(t)
	before := privatedocker.HostSnapshot()

	// The suite and its images, through the CLI a user runs.
	start := time.Now()
	cmd := exec.Command(hk, "conformance", "build", "--version", version, "--json")
	cmd.Dir, cmd.Stderr = root, testLog(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hk conformance build: %v", err)
	}
	var cb struct {
		Tree, E2E, Ginkgo string
		Images            conformance.Images
	}
	if err := json.Unmarshal(out, &cb); err != nil {
		t.Fatalf("hk conformance build --json: %v: %s", err, out)
	}
	t.Logf("conformance suite and %d images: %v (this run, caches as found)", len(cb.Images.Built), time.Since(start).Round(time.Second))
	suite := &conformance.Suite{Dir: cb.Tree, E2E: cb.E2E, Ginkgo: cb.Ginkgo}
	if suite.Tests, err = conformance.List(cb.Tree); err != nil {
		t.Fatal(err)
	}
	wanted := suite.Tests
	timeout := 4 * time.Hour
	if mode == "smoke" {
		if wanted, err = conformance.Select(suite.Tests, conformance.Smoke); err != nil {
			t.Fatal(err)
		}
		timeout = 30 * time.Minute
	}

	images := map[string]kindnode.Result{}
	for _, b := range builds {
		patches := map[string]string{"patched": "all", "unpatched": "none"}[b]
		if patches == "" {
			t.Fatalf("HK_CONFORMANCE_BUILDS: unknown build %q (patched, unpatched)", b)
		}
		cmd := exec.Command(hk, "kind", "node-image", "--version", version, "--patches", patches, "--json")
		cmd.Dir, cmd.Stderr = root, testLog(t)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("hk kind node-image %s: %v", b, err)
		}
		var r kindnode.Result
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("hk kind node-image --json: %v: %s", err, out)
		}
		images[b] = r
	}

	d := startPrivateDocker(t, ctx, root, hk, before)

	summaries := map[string]conformance.Summary{}
	var table []string
	defer func() {
		t.Logf("conformance %s, %s:\n%-10s %6s %6s %6s %7s %7s %9s %8s\n%s", version, mode,
			"build", "wanted", "passed", "failed", "skipped", "not run", "restarts", "took", strings.Join(table, "\n"))
	}()
	resultsDir := filepath.Join(root, "out", "conformance", version, "results")
	for _, b := range builds {
		t.Run(b, func(t *testing.T) {
			wanted := wanted
			if mode == "rerun" {
				if wanted, err = lastNonPass(filepath.Join(resultsDir, b+"-full", "summary.json")); err != nil {
					t.Fatal(err)
				}
				if len(wanted) == 0 {
					t.Skipf("%s's last full run left nothing to rerun", b)
				}
			}
			name := "hk-conf-" + b[:2]
			c, err := kindcluster.Create(kindcluster.Options{Name: name, Image: images[b].Image, DockerHost: d.Host,
				Workers: workers, Dir: t.TempDir(), Hazard: mode == "hazard", RegistryHosts: true, Wait: 4 * time.Minute, Log: t.Logf})
			if c != nil {
				t.Cleanup(func() {
					if err := c.Delete(); err != nil {
						t.Errorf("delete cluster %s: %v", name, err)
					}
				})
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := c.LoadImages(cb.Images.Archive); err != nil {
				t.Fatal(err)
			}
			serveRegistry(t, ctx, c, root, hk, version, d.NetNS())
			if mode == "hazard" {
				if err := c.EnableHazard(); err != nil {
					t.Fatal(err)
				}
				cutAt := time.Now()
				if err := c.PowerCut(ctx); err != nil {
					t.Fatal(err)
				}
				took, err := c.WaitReady(ctx, cutAt, 5*time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if v6, _ := c.Exec(ctx, c.ControlPlane(), "cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"); v6 != "1" {
					t.Fatalf("the hazard is not in place: disable_ipv6=%q", v6)
				}
				t.Logf("power cut under the field hazard: Ready %v after the cut", took.Round(time.Second))
			}
			if err := c.WaitPods(ctx, 4*time.Minute); err != nil {
				t.Fatal(err)
			}
			startsBefore, err := c.APIServerContainers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			kubectl := filepath.Join(t.TempDir(), "kubectl")
			if err := os.Symlink(hyperkubeOf(root, version, b), kubectl); err != nil {
				t.Fatal(err)
			}
			reportDir := filepath.Join(resultsDir, b+"-"+mode)
			if err := os.RemoveAll(reportDir); err != nil {
				t.Fatal(err)
			}
			rep, err := conformance.Run(ctx, conformance.RunOptions{Suite: suite, RepoList: cb.Images.RepoList,
				Kubeconfig: c.Kubeconfig(), Kubectl: kubectl, NetNS: d.NetNS(), Tests: wanted, ReportDir: reportDir,
				Procs: procs, Timeout: timeout, Log: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			startsAfter, err := c.APIServerContainers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			restarts := kindcluster.StartsBetween(startsBefore, startsAfter)
			s := rep.Summary
			summaries[b] = s
			table = append(table, fmt.Sprintf("%-10s %6d %6d %6d %7d %7d %9d %8s", b, len(wanted), s.Passed, s.Failed, s.Skipped, s.NotRun, restarts, rep.Took.Round(time.Second)))
			for _, o := range s.NonPass {
				why := conformance.Explained[o.Key()]
				t.Logf("not passed: %s: %s\n    %s\n    explained: %s", o.Status, o.Codename, o.Message, dash(why))
				if mode == "smoke" || why == "" {
					t.Errorf("%s (%s) did not pass and no reason is known: %s", o.Codename, o.Status, o.Message)
				}
			}
			if restarts != 0 {
				t.Errorf("the apiserver restarted %d times during the suite", restarts)
			}
			t.Logf("reports: %s", reportDir)
		})
	}
	if p, ok := summaries["patched"]; ok {
		if u, ok := summaries["unpatched"]; ok && !slices.Equal(p.NonPassKeys(), u.NonPassKeys()) {
			t.Errorf("the series changed conformance: not passed on patched %q, on unpatched %q", p.NonPassKeys(), u.NonPassKeys())
		}
	}
}

// serveRegistry runs hk conformance registry in the private daemon's network namespace, on the
// nodes' gateway, until the test ends, and points every node's containerd at it for docker.io:
// tests that pull with imagePullPolicy Always then pull our images from it.
func serveRegistry(t *testing.T, ctx context.Context, c *kindcluster.Cluster, root, hk, version, netns string) {
	t.Helper()
	gw, err := c.Gateway(ctx)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("%s:%d", gw, conformance.RegistryPort)
	cmd := exec.Command("ip", "netns", "exec", netns, hk, "conformance", "registry", "--version", version, "--listen", addr)
	// One line per request: into a file beside the results, not the test's output.
	logPath := filepath.Join(root, "out", "conformance", version, "registry.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd.Dir, cmd.Stderr = root, logFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("hk conformance registry: %v", err)
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("hk conformance registry did not start: %v", err)
	}
	t.Logf("registry: %s (requests logged in %s)", strings.TrimSpace(line), logPath)
	if err := c.SetRegistryHosts(ctx, "docker.io", conformance.RegistryHostsTOML(addr)); err != nil {
		t.Fatal(err)
	}
}

// lastNonPass reads the tests that did not pass from a run's summary.json.
func lastNonPass(summary string) ([]conformance.Test, error) {
	data, err := os.ReadFile(summary)
	if err != nil {
		return nil, fmt.Errorf("nothing to rerun: %w", err)
	}
	var rep conformance.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", summary, err)
	}
	var tests []conformance.Test
	for _, o := range rep.Summary.NonPass {
		tests = append(tests, o.Test)
	}
	return tests, nil
}

// hyperkubeOf is the build's hyperkube (hk kind node-image built it): kubectl for the CLI tests.
func hyperkubeOf(root, version, build string) string {
	dir := version
	if build == "unpatched" {
		dir += "-unpatched"
	}
	return filepath.Join(root, "out", dir, "hyperkube")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
