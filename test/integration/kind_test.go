package integration

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/hardened-hyperkube/hk/internal/kind/kindprobe"
)

// Stage 1 of running the proof on kind: what does this engine allow of what kind needs? The probe
// must be able to run its own plain container, and must name a blocker exactly when a privileged
// container (kind's node) cannot start.
func TestKindEngineProbe(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	out, err := exec.Command(buildHK(t), "kind", "probe", "--json").Output()
	if err != nil {
		t.Fatalf("hk kind probe: %v", err)
	}
	var r kindprobe.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("hk kind probe --json: %v\n%s", err, out)
	}
	checks := map[string]kindprobe.Check{}
	for _, c := range r.Checks {
		checks[c.Name] = c
		t.Logf("%-52s ok=%-5v %s", c.Name, c.OK, c.Detail)
	}
	if c := checks["plain container"]; !c.OK || !strings.Contains(c.Detail, "capEff") {
		t.Errorf("the probe's own plain container did not run: %+v", c)
	}
	privileged := checks["--privileged container (kind's node)"]
	if privileged.OK == (r.Blocker != "") {
		t.Errorf("privileged container ok=%v but blocker %q", privileged.OK, r.Blocker)
	}
	if out, _ := exec.Command("docker", "images", "-q", "hk-kind-probe:local").Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Error("the probe left its image behind")
	}
	t.Logf("engine: %v; blocker: %q", r.Engine, r.Blocker)
}
