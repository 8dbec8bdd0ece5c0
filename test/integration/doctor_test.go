package integration

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/diagnose/doctor"
	"github.com/hardened-hyperkube/hk/internal/proof/lab"
)

// profileRootfs writes the /etc a lab profile gives its sandbox, for hk doctor to read.
func profileRootfs(t *testing.T, p lab.Profile) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range lab.EtcFiles(p) {
		if content == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(*content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func ipv6Flag(p lab.Profile) string {
	if p.DisableIPv6 {
		return "off"
	}
	return "on"
}

// For every lab profile, hk doctor's predicted lookup time for "localhost" matches what Go's
// resolver takes inside the lab's sandbox (within 1 s), and its verdict for the unpatched and the
// patched apiserver matches what that apiserver does there.
func TestDoctorAgreesWithTheLab(t *testing.T) {
	unpatched, patched := binary(t, "unpatched"), binary(t, "patched")
	for _, p := range lab.Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			if p.EtcdStallFor > 0 {
				t.Skip("the doctor reads a node's name resolution; an etcd stall is not in its /etc")
			}
			t.Parallel()
			deadDNS := p
			if deadDNS.DNSAnswersAfter > 0 {
				deadDNS.DNSAnswersAfter = 0 // the doctor predicts for nameservers that never answer
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			measured, err := lab.Probe(ctx, deadDNS, 150*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			root := profileRootfs(t, p)
			predicted := doctor.Examine(ctx, doctor.Options{Root: root, Binary: unpatched, IPv6: ipv6Flag(p), RepoRoot: repoRoot(t)})
			// The doctor times a lookup only when the apiserver would make one (no ::1).
			want := predicted.LookupSeconds
			if predicted.LoopbackHost != "localhost" {
				want = 0
				if measured.Seconds > 1 {
					t.Logf("the apiserver uses %s here; the probe's lookup does not apply", predicted.LoopbackHost)
					want = measured.Seconds
				}
			}
			t.Logf("%s: predicted %.1fs (%s), measured %s", p.Name, want, predicted.Verdict, measured.String())
			if math.Abs(measured.Seconds-want) > 1 {
				t.Errorf("predicted lookup %.1fs, measured %.1fs", want, measured.Seconds)
			}

			b := boot(t, "unpatched", p.Name, 5*time.Second, nil)
			agree(t, "unpatched", predicted, b)
			fixed := doctor.Examine(ctx, doctor.Options{Root: root, Binary: patched, IPv6: ipv6Flag(p), RepoRoot: repoRoot(t)})
			if fixed.Verdict != doctor.Safe {
				t.Errorf("patched: verdict %q, want safe (%s)", fixed.Verdict, fixed.Why)
			}
		})
	}
}

// agree maps a verdict to the lab outcome it predicts: safe → ready within 10 s; at risk →
// ready, slowly; will fail → the apiserver exits.
func agree(t *testing.T, build string, r *doctor.Report, b lab.Boot) {
	t.Helper()
	ok := false
	switch r.Verdict {
	case doctor.Safe:
		ok = b.Outcome == lab.OutcomeReady && b.ReadyAfter <= 10
	case doctor.AtRisk:
		ok = b.Outcome == lab.OutcomeReady
	case doctor.WillFail:
		ok = b.Outcome == lab.OutcomeExited
	}
	if !ok {
		t.Errorf("%s: doctor says %q (%s) but the lab shows %s", build, r.Verdict, r.Why, describe(b))
	}
}
