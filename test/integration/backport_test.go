package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/versions"
)

// backports are the other releases we ship, each with the profile that kills its unpatched
// apiserver and the line it dies with (`make backports` builds them).
var backports = []struct{ version, killer, fatal string }{
	{"v1.36.3", "field-slow", `PostStartHook "start-service-ip-repair-controllers" failed`},
	{"v1.35.4", "field-slow", `PostStartHook "start-service-ip-repair-controllers" failed`},
	{"v1.24.17", "field-slow", "Unable to perform initial IP allocation check"}, // at exactly 30 s (field) it is a race
}

// For each backport: the unpatched build dies under the hazard that kills that release, and the
// patched build is ready within 10 s without a single DNS query.
func TestBackports(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: the lab needs root (network, mount and PID namespaces); CI runs it as root")
	}
	for _, bp := range backports {
		t.Run(bp.version, func(t *testing.T) {
			out := filepath.Join(repoRoot(t), "out")
			patched := filepath.Join(out, bp.version, "hyperkube")
			unpatched := filepath.Join(out, bp.version+"-unpatched", "hyperkube")
			pins, err := versions.Load(repoRoot(t), bp.version)
			if err != nil {
				t.Fatal(err)
			}
			etcd := filepath.Join(out, "etcd", pins.Etcd, "etcd")
			for _, p := range []string{patched, unpatched, etcd} {
				if _, err := os.Stat(p); err != nil {
					t.Skipf("skipping: %s not built (run `make backports`)", p)
				}
			}
			t.Run("unpatched", func(t *testing.T) {
				t.Parallel()
				b := bootBinary(t, unpatched, etcd, bp.killer, 5*time.Second, nil)
				if b.Outcome != "exited" || !strings.Contains(b.FatalLine, bp.fatal) {
					t.Errorf("expected %s unpatched to exit with %q under %s: %s", bp.version, bp.fatal, bp.killer, describe(b))
				}
			})
			t.Run("patched", func(t *testing.T) {
				t.Parallel()
				b := bootBinary(t, patched, etcd, bp.killer, 10*time.Second, nil)
				if b.Outcome != "ready" || b.ReadyAfter > 10 || b.DNSQueries != 0 || b.LoopbackHost != "127.0.0.1" {
					t.Errorf("expected %s patched ready within 10s, no DNS, loopback 127.0.0.1 under %s: %s", bp.version, bp.killer, describe(b))
				}
			})
		})
	}
}
