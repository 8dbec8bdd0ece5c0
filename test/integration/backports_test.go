package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/proof/lab"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// backports are the other releases we ship (`make backports` builds them): every pinned release
// but the main one, so `hk follow` moving a line needs no edit here. lab.KillerFor names the
// profile that kills each one's unpatched apiserver and the line it dies with.
func backports(t *testing.T) []string {
	main, _ := versions.Minor(version)
	var out []string
	for _, v := range versions.Known(repoRoot(t)) {
		if m, _ := versions.Minor(v); m != main {
			out = append(out, v)
		}
	}
	return out
}

// For each backport: the unpatched build dies under the hazard that kills that release, and the
// patched build is ready within 10 s without a single DNS query.
func TestBackports(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: the lab needs root (network, mount and PID namespaces); CI runs it as root")
	}
	t.Parallel()
	for _, version := range backports(t) {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			killer, err := lab.KillerFor(version)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(repoRoot(t), "out")
			patched := filepath.Join(out, version+"-kube-apiserver", "kube-apiserver")
			unpatched := filepath.Join(out, version+"-unpatched-kube-apiserver", "kube-apiserver")
			pins, err := versions.Load(repoRoot(t), version)
			if err != nil {
				t.Fatal(err)
			}
			etcd := filepath.Join(out, "etcd", pins.Etcd, "etcd")
			for _, p := range []string{patched, unpatched, etcd} {
				if _, err := os.Stat(p); err != nil {
					notBuilt(t, "%s not built (run `make backports-built`)", p)
				}
			}
			t.Run("unpatched", func(t *testing.T) {
				t.Parallel()
				b := bootBinary(t, unpatched, etcd, killer.Profile, 5*time.Second, nil)
				if b.Outcome != "exited" || !strings.Contains(b.FatalLine, killer.Fatal) {
					t.Errorf("expected %s unpatched to exit with %q under %s: %s", version, killer.Fatal, killer.Profile, describe(b))
				}
			})
			t.Run("patched", func(t *testing.T) {
				t.Parallel()
				b := bootBinary(t, patched, etcd, killer.Profile, 10*time.Second, nil)
				if b.Outcome != "ready" || b.ReadyAfter > 10 || b.DNSQueries != 0 || b.LoopbackHost != "127.0.0.1" {
					t.Errorf("expected %s patched ready within 10s, no DNS, loopback 127.0.0.1 under %s: %s", version, killer.Profile, describe(b))
				}
				// Printed, not asserted: 1.24 and 1.21 sign it for a year (kubernetes#130047 came later).
				t.Logf("%s loopback certificate: valid %.0f days, until %s", version, b.LoopbackCertDays, b.LoopbackCertNotAfter)
			})
		})
	}
}
