package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/proof/lab"
)

// The FIPS variant (make fips-proof builds it): built with Go's certified module, it says so,
// and under GODEBUG=fips140=only — where a non-approved algorithm fails, as X25519 did for
// client-go with Go 1.25 (kubernetes#133743) — etcd and the apiserver boot under the field hazard:
// ready, the loopback client working on 127.0.0.1, no DNS query. etcd 3.7.0 derives member IDs
// with SHA-1 and panicked under "only" (etcd-io/etcd#21673): patches/etcd/v3.7.0 carries the fix
// proposed upstream.
func TestFIPSOnlyBoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: the lab needs root (network, mount and PID namespaces); CI runs it as root")
	}
	bin := filepath.Join(repoRoot(t), "out", version+"-fips", "hyperkube")
	if _, err := os.Stat(bin); err != nil {
		notBuilt(t, "%s not built (run `make fips-proof`)", bin)
	}
	module, err := build.FIPSModule()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "version")
	cmd.Env = append(os.Environ(), "GODEBUG=fips140=only")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "fips140: module "+module) || !strings.Contains(string(out), "mode only") {
		t.Errorf("hyperkube version under fips140=only: %v\n%s", err, out)
	}
	etcd := etcdBinary(t)
	start := time.Now()
	b := bootWith(t, lab.Options{Binary: bin, Etcd: etcd, Deadline: 150 * time.Second, Hold: 20 * time.Second, GODEBUG: "fips140=only", EtcdGODEBUG: "fips140=only"}, "field", nil)
	if b.Outcome != "ready" || b.DNSQueries != 0 || b.LoopbackHost != "127.0.0.1" {
		t.Errorf("FIPS hyperkube under fips140=only and the field hazard: %s", describe(b))
	}
	t.Logf("fips140=only, field: %s ready after %.1f s (run %s)", b.Outcome, b.ReadyAfter, time.Since(start).Round(time.Second))
}
