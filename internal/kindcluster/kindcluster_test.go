package kindcluster

import (
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// The configuration must parse as kind's v1alpha4 Cluster, mount the hook only with the hazard,
// and patch kubeadm's ClusterConfiguration with the apiserver's DNS-first nsswitch.conf.
func TestConfig(t *testing.T) {
	for _, hazard := range []bool{false, true} {
		raw := Config(Options{Dir: "/out/x", Hazard: hazard})
		var c v1alpha4.Cluster
		if err := yaml.UnmarshalStrict([]byte(raw), &c); err != nil {
			t.Fatalf("hazard=%v: %v\n%s", hazard, err, raw)
		}
		if len(c.Nodes) != 1 || c.Nodes[0].Role != v1alpha4.ControlPlaneRole {
			t.Errorf("nodes %+v", c.Nodes)
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
	}
}
