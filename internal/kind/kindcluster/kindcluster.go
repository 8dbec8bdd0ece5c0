// Package kindcluster creates and drives kind clusters through kind's Go API
// (sigs.k8s.io/kind/pkg/cluster), against any Docker daemon (the private one on this machine),
// with the configuration the host needs and, for the proofs, the field hazard at every boot.
package kindcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindcmd "sigs.k8s.io/kind/pkg/cmd"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
)

// HookDir is where a node sees Options.HookDir: the node image runs HookDir/boot-hook.sh, when
// present, before containerd and the kubelet on every boot.
const HookDir = "/kind/hk"

// Options describe a cluster.
type Options struct {
	Name  string
	Image string
	// Workers is the number of worker nodes beside the one control plane (kind's multi-node
	// example has two).
	Workers int
	// DockerHost is the daemon's DOCKER_HOST; empty for the docker CLI's default.
	DockerHost string
	// Dir holds the kubeconfig and, when Hazard is set, the hook files mounted into the nodes.
	Dir string
	// Hazard mounts the field hazard's files into the control-plane node: the apiserver resolves
	// names DNS first, and boot-hook.sh (written by EnableHazard) blackholes the nameservers and
	// turns IPv6 off. Workers come back as they do in the field when their nameservers answer.
	Hazard bool
	// HazardAtCreate enables the hazard before the first boot (kubeadm init faces it).
	HazardAtCreate bool
	// RegistryHosts has containerd read registry hosts from /etc/containerd/certs.d (kind's
	// local-registry recipe); SetRegistryHosts writes them.
	RegistryHosts bool
	Wait          time.Duration
	Log           func(format string, args ...any)
}

// Cluster is a created kind cluster.
type Cluster struct {
	Name     string
	Nodes    []string
	opts     Options
	provider *cluster.Provider
}

// cgroupV1 reports whether the host's /sys/fs/cgroup is not the unified hierarchy.
func cgroupV1() bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		return false
	}
	return st.Type != 0x63677270 // CGROUP2_SUPER_MAGIC
}

// Config is the kind configuration for the options on this host: kind's own multi-node example
// (one control plane, Workers workers), with nothing but what this host needs (cgroup v1) and the
// field hazard's mounts.
func Config(o Options) string {
	var b strings.Builder
	b.WriteString("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n")
	if o.Hazard {
		fmt.Fprintf(&b, "  extraMounts:\n  - hostPath: %s\n    containerPath: %s\n", filepath.Join(o.Dir, "hook"), HookDir)
	}
	for i := 0; i < o.Workers; i++ {
		b.WriteString("- role: worker\n")
	}
	var patches []string
	if cgroupV1() {
		// v1.35+ kubelets refuse cgroup v1 unless told otherwise; only on such hosts.
		patches = append(patches, "kind: KubeletConfiguration\nfailCgroupV1: false\n")
	}
	if o.Hazard {
		patches = append(patches, `kind: ClusterConfiguration
apiServer:
  extraVolumes:
  - name: hk-field-nsswitch
    hostPath: `+HookDir+`/nsswitch.conf
    mountPath: /etc/nsswitch.conf
    readOnly: true
    pathType: File
`)
	}
	writePatches(&b, "kubeadmConfigPatches", patches)
	if o.RegistryHosts {
		writePatches(&b, "containerdConfigPatches", []string{registryConfigPath})
	}
	return b.String()
}

// registryConfigPath is kind's local-registry recipe: containerd reads each registry's hosts
// from /etc/containerd/certs.d/<registry>/hosts.toml (SetRegistryHosts).
const registryConfigPath = `[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
`

func writePatches(b *strings.Builder, key string, patches []string) {
	if len(patches) == 0 {
		return
	}
	b.WriteString(key + ":\n")
	for _, p := range patches {
		b.WriteString("- |\n")
		for _, line := range strings.Split(strings.TrimRight(p, "\n"), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
}

// Blackholed nameservers: addresses routed into a veth whose peer is down, with ARP off, so a
// query is sent (no local error, as with an iptables DROP, which fails the send at once and lets
// the resolver move on) and never answered, as after a power cut in the field; nothing leaves the
// node. A counting rule in OUTPUT records every query.
const blackholeNet = "10.255.255.0/29"

// fieldHook is run by the node at every boot when enabled: IPv6 off, three nameservers that
// never answer, each query given 15 s (the lab's field-slow: 90 s per lookup, longer than
// client-go's 30 s dial timeout, so an unpatched v1.37 fails deterministically). The apiserver
// also resolves DNS first (nsswitch.conf mounted by Config).
const fieldHook = `#!/bin/sh
# hk field hazard (internal/kind/kindcluster): the state control-plane nodes come back in.
set -e
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
printf 'nameserver 10.255.255.1\nnameserver 10.255.255.2\nnameserver 10.255.255.3\noptions timeout:15\n' > /etc/resolv.conf
ip link show hkblackhole0 >/dev/null 2>&1 || ip link add hkblackhole0 type veth peer name hkblackhole1
ip link set hkblackhole0 arp off up
ip route replace ` + blackholeNet + ` dev hkblackhole0
for proto in udp tcp; do
  iptables -w -C OUTPUT -p $proto --dport 53 -d ` + blackholeNet + ` 2>/dev/null ||
    iptables -w -I OUTPUT -p $proto --dport 53 -d ` + blackholeNet + `
done
`

func (o Options) hookDir() string { return filepath.Join(o.Dir, "hook") }

func (o Options) log(format string, args ...any) {
	if o.Log != nil {
		o.Log(format, args...)
	}
}

func provider(o Options) *cluster.Provider {
	if o.DockerHost != "" {
		// kind runs the docker CLI, which reads DOCKER_HOST from the environment.
		os.Setenv("DOCKER_HOST", o.DockerHost)
	}
	return cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(kindcmd.NewLogger()))
}

// Create creates the cluster and waits for its control plane to be Ready. On failure the nodes are
// kept (Delete removes them) so the caller can read why.
func Create(o Options) (*Cluster, error) {
	if err := os.MkdirAll(o.hookDir(), 0o755); err != nil {
		return nil, err
	}
	if o.Hazard {
		if err := os.WriteFile(filepath.Join(o.hookDir(), "nsswitch.conf"), []byte("hosts: dns files\n"), 0o644); err != nil {
			return nil, err
		}
	}
	c := &Cluster{Name: o.Name, opts: o, provider: provider(o)}
	if o.HazardAtCreate {
		if err := c.EnableHazard(); err != nil {
			return nil, err
		}
	}
	o.log("kind: create cluster %s from %s", o.Name, o.Image)
	err := c.provider.Create(o.Name,
		cluster.CreateWithRawConfig([]byte(Config(o))),
		cluster.CreateWithNodeImage(o.Image),
		cluster.CreateWithRetain(true),
		cluster.CreateWithWaitForReady(o.Wait),
		cluster.CreateWithKubeconfigPath(filepath.Join(o.Dir, "kubeconfig")),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false))
	nodes, lerr := c.provider.ListNodes(o.Name)
	if lerr == nil {
		for _, n := range nodes {
			c.Nodes = append(c.Nodes, n.String())
		}
	}
	if err != nil {
		return c, fmt.Errorf("kind create cluster %s: %w", o.Name, err)
	}
	return c, lerr
}

// EnableHazard makes every later boot of the nodes face the field hazard.
func (c *Cluster) EnableHazard() error {
	return os.WriteFile(filepath.Join(c.opts.hookDir(), "boot-hook.sh"), []byte(fieldHook), 0o755)
}

// Delete removes the cluster's nodes.
func (c *Cluster) Delete() error {
	return c.provider.Delete(c.Name, filepath.Join(c.opts.Dir, "kubeconfig"))
}

func (c *Cluster) docker(args ...string) *command.Cmd {
	cmd := command.New("docker", args...)
	if c.opts.DockerHost != "" {
		cmd = cmd.WithEnv("DOCKER_HOST=" + c.opts.DockerHost)
	}
	return cmd
}

// ControlPlane is the first control-plane node's container name.
func (c *Cluster) ControlPlane() string { return c.Name + "-control-plane" }

// Exec runs a command in a node and returns its standard output.
func (c *Cluster) Exec(ctx context.Context, node string, args ...string) (string, error) {
	return c.docker(append([]string{"exec", node}, args...)...).Output(ctx)
}

// Kubectl runs kubectl as the cluster admin inside the control-plane node.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	return c.Exec(ctx, c.ControlPlane(), append([]string{"kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"}, args...)...)
}

// Apply applies a manifest as the cluster admin.
func (c *Cluster) Apply(ctx context.Context, manifest string) error {
	cmd := c.docker("exec", "-i", c.ControlPlane(), "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	_, err := cmd.Run(ctx)
	return err
}

// PowerCut kills every node at once (no shutdown: SIGKILL to the container), waits until they are
// dead, and starts them again.
func (c *Cluster) PowerCut(ctx context.Context) error {
	for _, verb := range []string{"kill", "wait", "start"} {
		if _, err := c.docker(append([]string{verb}, c.Nodes...)...).Run(ctx); err != nil {
			return err
		}
	}
	return nil
}

// WaitReady waits until the apiserver is ready (/readyz) and every node has reported Ready since
// the given time (a node status written before a power cut still says Ready), and returns how
// long after since that was.
func (c *Cluster) WaitReady(ctx context.Context, since time.Time, timeout time.Duration) (time.Duration, error) {
	since = since.Truncate(time.Second) // heartbeats have second precision
	var last string
	for time.Since(since) < timeout {
		ok, why := c.ready(ctx, since)
		if ok {
			return time.Since(since), nil
		}
		last = why
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return 0, fmt.Errorf("not Ready %v after: %s", timeout, last)
}

func (c *Cluster) ready(ctx context.Context, since time.Time) (bool, string) {
	if out, err := c.Kubectl(ctx, "get", "--raw", "/readyz"); err != nil || out != "ok" {
		return false, "readyz: " + lastLine(fmt.Sprint(out, err))
	}
	out, err := c.Kubectl(ctx, "get", "nodes", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}{"\n"}{end}`)
	if err != nil {
		return false, err.Error()
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return false, "node status: " + line
		}
		beat, err := time.Parse(time.RFC3339, f[2])
		if f[1] != "True" || err != nil || beat.Before(since) {
			return false, "node " + line
		}
	}
	return out != "", ""
}

// StaysUp watches the apiserver for d (an unpatched v1.37 exits about 61 s after it starts under
// the hazard) and returns how many times it restarted meanwhile.
func (c *Cluster) StaysUp(ctx context.Context, d time.Duration) (int, error) {
	before, err := c.APIServerRestarts(ctx)
	if err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	after, err := c.APIServerRestarts(ctx)
	return after - before, err
}

// APIServerRestarts is the apiserver container's restart count on the control-plane node, read
// from the kubelet's log file names (N.log for the container's Nth restart; kept on /var, the
// node's volume, across node restarts, and readable while the apiserver is down). A node restart
// counts as one restart: the kubelet starts a new container.
func (c *Cluster) APIServerRestarts(ctx context.Context) (int, error) {
	out, err := c.Exec(ctx, c.ControlPlane(), "sh", "-c", "ls /var/log/pods/kube-system_kube-apiserver-*/kube-apiserver/ 2>/dev/null")
	if err != nil {
		return 0, err
	}
	max := 0
	for _, f := range strings.Fields(out) {
		var n int
		if _, err := fmt.Sscanf(f, "%d.log", &n); err == nil && n > max {
			max = n
		}
	}
	return max, nil
}

// APIServerContainers is, for each apiserver pod directory the kubelet has on the control-plane
// node, the number of its newest container log (N.log for the pod's Nth restart). After a power
// cut the node may come back with another address (Docker assigns them in start order); kind's
// entrypoint then rewrites the static pod manifests, the pod gets a new UID and a new directory,
// and its numbering starts again at 0. StartsBetween compares two readings.
func (c *Cluster) APIServerContainers(ctx context.Context) (map[string]int, error) {
	out, err := c.Exec(ctx, c.ControlPlane(), "sh", "-c", "ls -d /var/log/pods/kube-system_kube-apiserver-*/kube-apiserver/*.log 2>/dev/null || true")
	if err != nil {
		return nil, err
	}
	latest := map[string]int{}
	for _, f := range strings.Fields(out) {
		var n int
		if _, err := fmt.Sscanf(filepath.Base(f), "%d.log", &n); err != nil {
			continue
		}
		if cur, ok := latest[filepath.Dir(f)]; !ok || n > cur {
			latest[filepath.Dir(f)] = n
		}
	}
	return latest, nil
}

// StartsBetween is how many apiserver containers were started between two readings of
// APIServerContainers: numbers grow by one per container in a pod directory, a new directory
// starts at 0. Exact even when the kubelet has removed the logs of older dead containers.
func StartsBetween(before, after map[string]int) int {
	starts := 0
	for dir, n := range after {
		if b, ok := before[dir]; ok {
			starts += n - b
		} else {
			starts += n + 1
		}
	}
	return starts
}

// APIServerLog is the tail of the apiserver's logs on the control-plane node (all its containers).
func (c *Cluster) APIServerLog(ctx context.Context, pattern string) (string, error) {
	return c.Exec(ctx, c.ControlPlane(), "sh", "-c", "cat /var/log/pods/kube-system_kube-apiserver-*/kube-apiserver/*.log 2>/dev/null | grep -E '"+pattern+"' | tail -3")
}

// DNSQueries is the number of packets to the blackholed nameservers since the node last booted:
// every DNS query any process on the node sent.
func (c *Cluster) DNSQueries(ctx context.Context) (int, error) {
	out, err := c.Exec(ctx, c.ControlPlane(), "iptables", "-w", "-L", "OUTPUT", "-n", "-v", "-x")
	if err != nil {
		return 0, err
	}
	total, rules := 0, 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && strings.Contains(line, blackholeNet) && strings.Contains(line, "dpt:53") {
			var n int
			fmt.Sscan(f[0], &n)
			total += n
			rules++
		}
	}
	if rules != 2 {
		return 0, fmt.Errorf("the field hazard's query counters are not in place on %s (did hk-boot-hook.service run?)", c.ControlPlane())
	}
	return total, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Workers are the worker nodes' names (kind names them <cluster>-worker, <cluster>-worker2, ...).
func (c *Cluster) Workers() []string {
	var out []string
	for _, n := range c.Nodes {
		if strings.Contains(n, "-worker") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// WaitPods waits until every pod of every namespace is Running with all its containers ready, or
// has Succeeded: what `kubectl get pods -A` shows as a healthy cluster.
func (c *Cluster) WaitPods(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		out, err := c.Kubectl(ctx, "get", "pods", "-A", "-o",
			`jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.status.phase} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
		if err == nil {
			var waiting []string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(line)
				if len(f) < 2 || (f[1] == "Running" && len(f) == 3 && f[2] == "True") || f[1] == "Succeeded" {
					continue
				}
				waiting = append(waiting, line)
			}
			if len(waiting) == 0 && out != "" {
				return nil
			}
			last = strings.Join(waiting, "; ")
		} else {
			last = lastLine(err.Error())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	return fmt.Errorf("pods not all Running and ready after %v: %s", timeout, last)
}

// Kubeconfig is the cluster admin's kubeconfig, for clients where the nodes' published ports are
// (the private Docker daemon's network namespace).
func (c *Cluster) Kubeconfig() string { return filepath.Join(c.opts.Dir, "kubeconfig") }

// LoadImages imports a docker-save archive into every node's containerd, as `kind load
// image-archive` does.
func (c *Cluster) LoadImages(archive string) error {
	nodes, err := c.provider.ListInternalNodes(c.Name)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		f, err := os.Open(archive)
		if err != nil {
			return err
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("load %s into %s: %w", filepath.Base(archive), n.String(), err)
		}
	}
	return nil
}

// Gateway is the address of the nodes' Docker network's gateway: the private daemon's network
// namespace, as the nodes see it.
func (c *Cluster) Gateway(ctx context.Context) (string, error) {
	out, err := c.docker("network", "inspect", "kind", "-f", "{{range .IPAM.Config}}{{.Gateway}} {{end}}").Output(ctx)
	if err != nil {
		return "", err
	}
	for _, gw := range strings.Fields(out) {
		if !strings.Contains(gw, ":") { // the IPv4 one
			return gw, nil
		}
	}
	return "", fmt.Errorf("docker network kind has no IPv4 gateway (%q)", out)
}

// SetRegistryHosts writes containerd's hosts.toml for registry on every node (Options.RegistryHosts
// must be set); containerd reads it at the next pull.
func (c *Cluster) SetRegistryHosts(ctx context.Context, registry, hostsTOML string) error {
	for _, n := range c.Nodes {
		cmd := c.docker("exec", "-i", n, "sh", "-c", `mkdir -p "$1" && cat > "$1/hosts.toml"`, "-", "/etc/containerd/certs.d/"+registry)
		cmd.Stdin = strings.NewReader(hostsTOML)
		if _, err := cmd.Run(ctx); err != nil {
			return fmt.Errorf("registry hosts on %s: %w", n, err)
		}
	}
	return nil
}

// Attach is a cluster created by other means (kind's own CLI), to drive as Create's.
func Attach(o Options) *Cluster {
	c := &Cluster{Name: o.Name, opts: o, provider: provider(o)}
	if nodes, err := c.provider.ListNodes(o.Name); err == nil {
		for _, n := range nodes {
			c.Nodes = append(c.Nodes, n.String())
		}
	}
	return c
}
