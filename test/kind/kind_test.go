// Package kind is make kind-test: real kind clusters of our node images. It is its own package,
// outside Bazel (root BUILD.bazel excludes it): kind's Go API needs golang.org/x/sys/unix, which
// this repository's rules_go (v0.33) cannot link under Go 1.26.
package kind

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/kind/kindcluster"
	"github.com/hardened-hyperkube/hk/internal/kind/kindnode"
	"github.com/hardened-hyperkube/hk/internal/kind/privatedocker"
)

// powerCuts is how many times make kind-test kills the patched cluster under the field hazard.
const powerCuts = 3

// hold is how long a boot is watched after it is Ready: an unpatched v1.37 apiserver exits about
// 61 s after it starts under the hazard, which a node status alone would not show.
const hold = 90 * time.Second

// fatalLine is how an unpatched v1.37 apiserver ends when its first ClusterIP repair fails
// (internal/proof/lab.KillerFor).
const fatalLine = `PostStartHook \"start-service-ip-repair-controllers\" failed|Unable to perform initial IP allocation check`

// kindRow is one line of the scenario table.
type kindRow struct {
	build, scenario string
	ready           bool
	restarts, dns   int
	toReady         string
	cycles          string
	objects         string // configmaps written before each cut, and the PVC's file
	clusterDNS      string // a Service's name answered from a pod on each worker
	note            string
}

// workers is the number of worker nodes of every cluster: kind's multi-node example.
const workers = 2

// TestKindClusters is make kind-test: node images of our patched and unpatched v1.37.2, built
// offline, run by kind's Go API on this machine's private Docker daemon (or the host's Docker where
// it allows --privileged), with kind's stock configuration (one control plane, two workers; only
// what a cgroup v1 host needs), through the healthy, field and power-cut scenarios. HK_KIND_TEST=smoke
// (make kind-smoke, part of make test) builds the patched image only and runs the healthy scenario:
// kubeadm, the kubelet, static pods, kube-proxy, CoreDNS, flannel and local-path-provisioner from
// our builds, checked by pods on both workers. HK_KIND_VERSION picks another release's node image
// (v1.36.3, v1.35.4: the healthy scenario only).
func TestKindClusters(t *testing.T) {
	mode := os.Getenv("HK_KIND_TEST")
	if mode == "" {
		t.Skip("skipping: real kind clusters take ~20 min; make kind-test runs them (HK_KIND_TEST=1), make kind-smoke one (HK_KIND_TEST=smoke)")
	}
	smoke := mode == "smoke"
	version := "v1.37.2"
	if v := os.Getenv("HK_KIND_VERSION"); v != "" {
		version, smoke = v, true
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: kind on this machine needs root (a private Docker daemon)")
	}
	ctx := context.Background()
	root := repoRoot(t)
	hk := buildHK(t)
	before := privatedocker.HostSnapshot()

	// Node images, through the CLI a user runs.
	images := map[string]kindnode.Result{}
	builds := []struct{ name, patches string }{{"patched", "all"}, {"unpatched", "none"}}
	if smoke {
		builds = builds[:1]
	}
	for _, b := range builds {
		start := time.Now()
		cmd := exec.Command(hk, "kind", "node-image", "--version", version, "--patches", b.patches, "--json")
		cmd.Dir, cmd.Stderr = root, testLog(t)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("hk kind node-image %s: %v", b.name, err)
		}
		var r kindnode.Result
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("hk kind node-image --json: %v: %s", err, out)
		}
		images[b.name] = r
		t.Logf("node image %-9s %s %.0f MB, %v (this run, caches as found)", b.name, r.Image, float64(r.SizeBytes)/1e6, time.Since(start).Round(time.Second))
	}

	docker := os.Getenv("HK_KIND_DOCKER") // "host" on a machine whose Docker allows --privileged
	var dockerHost string
	if docker != "host" {
		d := startPrivateDocker(t, ctx, root, hk, before)
		dockerHost = d.Host
	}
	newCluster := func(t *testing.T, name, build string, hazard, atCreate bool) (*kindcluster.Cluster, error) {
		dir := t.TempDir()
		c, err := kindcluster.Create(kindcluster.Options{Name: name, Image: images[build].Image, DockerHost: dockerHost,
			Workers: workers, Dir: dir, Hazard: hazard, HazardAtCreate: atCreate, Wait: 4 * time.Minute, Log: t.Logf})
		if c != nil {
			t.Cleanup(func() {
				if err := c.Delete(); err != nil {
					t.Errorf("delete cluster %s: %v", name, err)
				}
			})
		}
		return c, err
	}
	var rows []kindRow
	defer func() { logKindTable(t, images, rows) }()

	t.Run("healthy", func(t *testing.T) {
		start := time.Now()
		c, err := newCluster(t, "hk-healthy", "patched", false, false)
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.WaitReady(ctx, start, 4*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		row := kindRow{build: "patched " + version, scenario: "healthy", ready: true, toReady: d.Round(time.Second).String(), cycles: "-"}
		if err := c.WaitPods(ctx, 4*time.Minute); err != nil {
			t.Fatal(err)
		}
		pods, _ := c.Kubectl(ctx, "get", "pods", "-A", "-o", "wide")
		t.Logf("kubectl get pods -A -o wide:\n%s", pods)
		w, err := startWorkload(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		row.clusterDNS, row.objects, row.note = w.check(t, ctx, c)
		row.note = "Service answered: " + serviceAnswers(t, ctx, c) + "; " + row.note
		row.restarts, _ = c.APIServerRestarts(ctx)
		rows = append(rows, row)
		if row.restarts != 0 {
			t.Errorf("apiserver restarted %d times in a healthy cluster", row.restarts)
		}
	})

	if smoke {
		return
	}

	t.Run("stock-kind-cli", func(t *testing.T) {
		// What a user runs: kind's own CLI (built from the module the Go API comes from), no config
		// but the one patch a cgroup v1 host needs, kind's default single node.
		kind := filepath.Join(t.TempDir(), "kind")
		build := exec.Command("go", "build", "-o", kind, "sigs.k8s.io/kind")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build kind: %v\n%s", err, out)
		}
		dir := t.TempDir()
		args := []string{"create", "cluster", "--name", "hk-stock", "--image", images["patched"].Image, "--retain", "--wait", "4m",
			"--kubeconfig", filepath.Join(dir, "kubeconfig")}
		config := kindcluster.Config(kindcluster.Options{})
		if strings.Contains(config, "kubeadmConfigPatches") {
			if err := os.WriteFile(filepath.Join(dir, "kind.yaml"), []byte(config), 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--config", filepath.Join(dir, "kind.yaml"))
			t.Logf("kind.yaml (this host is cgroup v1):\n%s", config)
		}
		kindCmd := func(args ...string) *exec.Cmd {
			cmd := exec.Command(kind, args...)
			if dockerHost != "" {
				cmd.Env = append(os.Environ(), "DOCKER_HOST="+dockerHost)
			}
			return cmd
		}
		start := time.Now()
		out, err := kindCmd(args...).CombinedOutput()
		t.Cleanup(func() {
			if out, err := kindCmd("delete", "cluster", "--name", "hk-stock", "--kubeconfig", filepath.Join(dir, "kubeconfig")).CombinedOutput(); err != nil {
				t.Errorf("kind delete cluster: %v\n%s", err, out)
			}
		})
		t.Logf("kind %s (%v):\n%s", strings.Join(args, " "), time.Since(start).Round(time.Second), out)
		if err != nil {
			t.Fatal(err)
		}
		c := kindcluster.Attach(kindcluster.Options{Name: "hk-stock", DockerHost: dockerHost, Dir: dir})
		if err := c.WaitPods(ctx, 4*time.Minute); err != nil {
			t.Fatal(err)
		}
		pods, _ := c.Kubectl(ctx, "get", "pods", "-A")
		sc, _ := c.Kubectl(ctx, "get", "storageclass")
		t.Logf("kubectl get pods -A:\n%s\nkubectl get storageclass:\n%s", pods, sc)
		for _, want := range []string{"coredns-", "kube-flannel-ds-", "local-path-provisioner-", "kube-proxy-"} {
			if !strings.Contains(pods, want) {
				t.Errorf("no %s pod in a stock cluster", want)
			}
		}
		rows = append(rows, kindRow{build: "patched", scenario: "stock kind CLI, 1 node", ready: true, toReady: time.Since(start).Round(time.Second).String(),
			cycles: "-", note: fmt.Sprintf("%d pods Running", strings.Count(pods, "Running"))})
	})

	t.Run("field-patched-and-power-cuts", func(t *testing.T) {
		start := time.Now()
		c, err := newCluster(t, "hk-field", "patched", true, true)
		if err != nil {
			t.Fatalf("patched control plane under the field hazard: %v", err)
		}
		d, err := c.WaitReady(ctx, start, 4*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		row := kindRow{build: "patched", scenario: "field-slow (kubeadm init)", ready: true, toReady: d.Round(time.Second).String(), cycles: "-"}
		if err := c.WaitPods(ctx, 4*time.Minute); err != nil {
			t.Fatal(err)
		}
		w, err := startWorkload(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		row.clusterDNS, row.objects, _ = w.check(t, ctx, c)
		time.Sleep(hold)
		row.restarts, _ = c.APIServerRestarts(ctx)
		if row.dns, err = c.DNSQueries(ctx); err != nil {
			t.Fatal(err)
		}
		if v6, _ := c.Exec(ctx, c.ControlPlane(), "cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"); v6 != "1" {
			t.Fatalf("the hazard is not in place: disable_ipv6=%q", v6)
		}
		rows = append(rows, row)
		if row.restarts != 0 || row.dns != 0 {
			t.Errorf("patched apiserver under the field hazard: %d restarts, %d DNS queries; want 0 and 0", row.restarts, row.dns)
		}

		cut := kindRow{build: "patched", scenario: fmt.Sprintf("power cuts x%d (field-slow)", powerCuts), ready: true, objects: "yes", clusterDNS: "yes"}
		var times []string
		for i := 1; i <= powerCuts; i++ {
			name := fmt.Sprintf("before-cut-%d", i)
			if _, err := c.Kubectl(ctx, "create", "configmap", name, "--from-literal=cycle="+fmt.Sprint(i)); err != nil {
				t.Fatalf("write %s: %v", name, err)
			}
			before, err := c.APIServerContainers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cutAt := time.Now()
			if err := c.PowerCut(ctx); err != nil {
				t.Fatalf("power cut %d: %v", i, err)
			}
			d, err := c.WaitReady(ctx, cutAt, 5*time.Minute)
			if err != nil {
				cut.ready = false
				t.Fatalf("power cut %d: %v", i, err)
			}
			times = append(times, d.Round(time.Second).String())
			t.Logf("power cut %d: Ready %v after the cut", i, d.Round(time.Second))
			for j := 1; j <= i; j++ {
				if _, err := c.Kubectl(ctx, "get", "configmap", fmt.Sprintf("before-cut-%d", j)); err != nil {
					cut.objects = "no"
					t.Errorf("after cut %d, configmap before-cut-%d is gone: %v", i, j, err)
				}
			}
			if err := c.WaitPods(ctx, 4*time.Minute); err != nil {
				t.Fatalf("after cut %d: %v", i, err)
			}
			dns, data, _ := w.check(t, ctx, c)
			if dns != "yes" {
				cut.clusterDNS = "no"
			}
			if data != "yes" {
				cut.objects = "no"
			}
			time.Sleep(hold)
			after, err := c.APIServerContainers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cut.restarts += kindcluster.StartsBetween(before, after) - 1 // the cut itself starts one new container
			n, err := c.DNSQueries(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cut.dns += n
		}
		cut.toReady = strings.Join(times, ", ")
		cut.cycles = fmt.Sprintf("%d/%d", len(times), powerCuts)
		rows = append(rows, cut)
		if cut.restarts != 0 || cut.dns != 0 {
			t.Errorf("patched apiserver across power cuts: %d restarts beyond one per cut, %d DNS queries", cut.restarts, cut.dns)
		}
	})

	t.Run("field-unpatched", func(t *testing.T) {
		start := time.Now()
		c, createErr := newCluster(t, "hk-field-up", "unpatched", true, true)
		row := kindRow{build: "unpatched", scenario: "field-slow (kubeadm init)", cycles: "-", objects: "-"}
		if createErr == nil {
			row.toReady = time.Since(start).Round(time.Second).String()
		} else {
			row.toReady = "never (kubeadm init failed)"
			t.Logf("unpatched under the field hazard: %s", firstLine(createErr.Error()))
		}
		if c == nil || len(c.Nodes) == 0 {
			t.Fatalf("no node to inspect: %v", createErr)
		}
		time.Sleep(hold)
		row.restarts, _ = c.APIServerRestarts(ctx)
		var err error
		if row.dns, err = c.DNSQueries(ctx); err != nil {
			t.Fatal(err)
		}
		row.note, _ = c.APIServerLog(ctx, fatalLine)
		row.note = firstLine(row.note)
		row.ready = createErr == nil && row.restarts == 0
		rows = append(rows, row)
		if row.ready {
			t.Errorf("the unpatched control came up under the field hazard with no apiserver restart: the hazard did not bite (dns=%d)", row.dns)
		}
	})

	t.Run("power-cut-unpatched", func(t *testing.T) {
		c, err := newCluster(t, "hk-cut-up", "unpatched", true, false)
		if err != nil {
			t.Fatalf("unpatched cluster without the hazard: %v", err)
		}
		if err := c.EnableHazard(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Kubectl(ctx, "create", "configmap", "before-cut-1"); err != nil {
			t.Fatal(err)
		}
		before, err := c.APIServerContainers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cutAt := time.Now()
		if err := c.PowerCut(ctx); err != nil {
			t.Fatal(err)
		}
		row := kindRow{build: "unpatched", scenario: "power cut x1 (field-slow)", cycles: "0/1", objects: "-"}
		d, readyErr := c.WaitReady(ctx, cutAt, 4*time.Minute)
		if readyErr == nil {
			row.toReady = d.Round(time.Second).String()
			if _, err := c.Kubectl(ctx, "get", "configmap", "before-cut-1"); err == nil {
				row.objects = "yes"
			}
		} else {
			row.toReady = "never in 4m"
		}
		time.Sleep(hold)
		after, _ := c.APIServerContainers(ctx)
		row.restarts = kindcluster.StartsBetween(before, after) - 1
		row.ready = readyErr == nil && row.restarts == 0
		if row.ready {
			row.cycles = "1/1"
		}
		if row.dns, err = c.DNSQueries(ctx); err != nil {
			t.Fatal(err)
		}
		row.note, _ = c.APIServerLog(ctx, fatalLine)
		row.note = firstLine(row.note)
		rows = append(rows, row)
	})
}

// serviceAnswers runs an etcd Deployment (an image the node carries) behind a ClusterIP Service
// and asks it for its version from the node, through kube-proxy's rules.
func serviceAnswers(t *testing.T, ctx context.Context, c *kindcluster.Cluster) string {
	t.Helper()
	images, err := c.Kubectl(ctx, "get", "pods", "-n", "kube-system", "-l", "component=etcd", "-o", "jsonpath={.items[0].spec.containers[0].image}")
	if err != nil {
		t.Fatal(err)
	}
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: etcd
        image: ` + images + `
        imagePullPolicy: Never
        command: [etcd, --data-dir=/data, --listen-client-urls=http://0.0.0.0:2379, --advertise-client-urls=http://127.0.0.1:2379, --listen-peer-urls=http://127.0.0.1:2380]
        ports: [{containerPort: 2379}]
        volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 2379}]
`
	if err := c.Apply(ctx, manifest); err != nil {
		t.Fatalf("apply web: %v", err)
	}
	if out, err := c.Kubectl(ctx, "rollout", "status", "deployment/web", "--timeout=3m"); err != nil {
		desc, _ := c.Kubectl(ctx, "describe", "pods", "-l", "app=web")
		t.Fatalf("deployment web: %v %s\n%s", err, out, desc)
	}
	ip, err := c.Kubectl(ctx, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for i := 0; i < 30; i++ {
		out, err := c.Exec(ctx, c.ControlPlane(), "bash", "-c",
			fmt.Sprintf(`exec 3<>/dev/tcp/%s/80; printf 'GET /version HTTP/1.0\r\n\r\n' >&3; timeout 5 cat <&3`, ip))
		if err == nil && strings.Contains(out, "etcdserver") {
			return ip + ":80 " + regexp.MustCompile(`\{.*\}`).FindString(out)
		}
		last = fmt.Errorf("%v: %s", err, out)
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("service web at %s did not answer: %v", ip, last)
	return ""
}

func logKindTable(t *testing.T, images map[string]kindnode.Result, rows []kindRow) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-16s | %-27s | %-9s | %-8s | %-3s | %-22s | %-6s | %-7s | %-11s | %s\n", "build", "scenario", "ready+90s", "restarts", "dns", "time to Ready", "cycles", "objects", "cluster DNS", "note")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-16s | %-27s | %-9v | %-8d | %-3d | %-22s | %-6s | %-7s | %-11s | %s\n", r.build, r.scenario, r.ready, r.restarts, r.dns, r.toReady, r.cycles, dash(r.objects), dash(r.clusterDNS), r.note)
	}
	for name, r := range images {
		fmt.Fprintf(&b, "node image %s: %s, %.0f MB\n", name, r.Image, float64(r.SizeBytes)/1e6)
	}
	t.Log(b.String())
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if i := strings.Index(s, "] "); i >= 0 && strings.Contains(s[:i], ".go:") {
		s = s[i+2:] // drop the container log and klog prefixes
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// testLog is an io.Writer into the test log, for the CLI's progress lines.
func testLog(t *testing.T) writerFunc {
	return func(b []byte) (int, error) {
		t.Log(strings.TrimRight(string(b), "\n"))
		return len(b), nil
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// buildHK compiles the CLI without cgo, as make hk does.
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

// startPrivateDocker starts the private Docker daemon for the test and, at its end, stops it and
// checks the host is as before (the daemon, docker0, iptables, /etc/docker, sysctls).
func startPrivateDocker(t *testing.T, ctx context.Context, root, hk string, before map[string]string) *privatedocker.Daemon {
	t.Helper()
	d, err := privatedocker.Start(ctx, privatedocker.Options{Dir: filepath.Join(root, "out", "kind", "docker"), HK: hk, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	d.StopOnSignal()
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("private docker teardown: %v", err)
		}
		after := privatedocker.HostSnapshot()
		for k, v := range before {
			if after[k] != v {
				t.Errorf("host %s changed: before %q, after %q", k, v, after[k])
			}
		}
	})
	return d
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
