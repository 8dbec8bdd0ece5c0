package kindcluster

import (
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// The configuration must parse as kind's v1alpha4 Cluster, be kind's multi-node example (one
// control plane, the workers asked for), skip no kubeadm phase, mount the hook into the control
// plane only with the hazard, and patch kubeadm's ClusterConfiguration with the apiserver's
// DNS-first nsswitch.conf.
func TestConfig(t *testing.T) {
	for _, hazard := range []bool{false, true} {
		raw := Config(Options{Dir: "/out/x", Hazard: hazard, Workers: 2})
		var c v1alpha4.Cluster
		if err := yaml.UnmarshalStrict([]byte(raw), &c); err != nil {
			t.Fatalf("hazard=%v: %v\n%s", hazard, err, raw)
		}
		if len(c.Nodes) != 3 || c.Nodes[0].Role != v1alpha4.ControlPlaneRole || c.Nodes[1].Role != v1alpha4.WorkerRole ||
			c.Nodes[2].Role != v1alpha4.WorkerRole || len(c.Nodes[1].ExtraMounts)+len(c.Nodes[2].ExtraMounts) != 0 {
			t.Errorf("nodes %+v", c.Nodes)
		}
		if strings.Contains(raw, "skipPhases") {
			t.Errorf("the config skips kubeadm phases:\n%s", raw)
		}
		mounts := c.Nodes[0].ExtraMounts
		if hazard != (len(mounts) == 1) || (hazard && (mounts[0].HostPath != "/out/x/hook" || mounts[0].ContainerPath != HookDir)) {
			t.Errorf("hazard=%v: mounts %+v", hazard, mounts)
		}
		patched := strings.Contains(strings.Join(c.KubeadmConfigPatches, "\n"), "mountPath: /etc/nsswitch.conf")
		if patched != hazard {
			t.Errorf("hazard=%v: nsswitch patch present=%v", hazard, patched)
		}
		if cgroupV1() != strings.Contains(raw, "failCgroupV1: false") {
			t.Errorf("failCgroupV1 must be set exactly on cgroup v1 hosts:\n%s", raw)
		}
		if len(c.ContainerdConfigPatches) != 0 {
			t.Errorf("containerd patched without RegistryHosts:\n%s", raw)
		}
	}
	// RegistryHosts: kind's local-registry recipe, containerd's config_path.
	raw := Config(Options{Workers: 2, RegistryHosts: true})
	var c v1alpha4.Cluster
	if err := yaml.UnmarshalStrict([]byte(raw), &c); err != nil {
		t.Fatalf("RegistryHosts: %v\n%s", err, raw)
	}
	if len(c.ContainerdConfigPatches) != 1 || !strings.Contains(c.ContainerdConfigPatches[0], `config_path = "/etc/containerd/certs.d"`) {
		t.Errorf("RegistryHosts: containerd patches %q", c.ContainerdConfigPatches)
	}
}

// A power cut that moved the node to another address gives the apiserver pod a new directory
// whose numbering starts at 0; a crash loop in the same directory counts every container, even
// those whose logs the kubelet removed.
func TestStartsBetween(t *testing.T) {
	old, moved := "/var/log/pods/kube-system_kube-apiserver-cp_aaa/kube-apiserver", "/var/log/pods/kube-system_kube-apiserver-cp_bbb/kube-apiserver"
	for _, c := range []struct {
		name          string
		before, after map[string]int
		want          int
	}{
		{"same directory, one start", map[string]int{old: 1}, map[string]int{old: 2}, 1},
		{"same directory, crash loop", map[string]int{old: 1}, map[string]int{old: 5}, 4},
		{"new directory after an address change", map[string]int{old: 3}, map[string]int{old: 3, moved: 0}, 1},
		{"new directory, then two restarts", map[string]int{old: 3}, map[string]int{moved: 2}, 3},
		{"nothing started", map[string]int{old: 3}, map[string]int{old: 3}, 0},
	} {
		if got := StartsBetween(c.before, c.after); got != c.want {
			t.Errorf("%s: StartsBetween = %d, want %d", c.name, got, c.want)
		}
	}
}
