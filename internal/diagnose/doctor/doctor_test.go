package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardened-hyperkube/hk/internal/source/series"
)

// rootfs writes a small /etc; a nil value leaves the file out.
func rootfs(t *testing.T, files map[string]*string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if content == nil {
			continue
		}
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(*content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func s(v string) *string { return &v }

const (
	threeDead   = "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n"
	hostsOK     = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
	dnsFirstSW  = "hosts: dns files\n"
	filesDNSSW  = "passwd: files\nhosts:      files   dns\n"
	upstream137 = "v1.37.2"
)

func TestPredictions(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]*string
		ipv6     string
		bind     string
		binary   *Binary // nil: an unpatched binary of upstream137
		loopback string
		order    Order
		seconds  float64
		verdict  string
		whyHas   string
	}{
		{name: "healthy node with IPv6", files: map[string]*string{"etc/nsswitch.conf": s(filesDNSSW), "etc/hosts": s(hostsOK), "etc/resolv.conf": s(threeDead)},
			ipv6: "on", loopback: "::1", verdict: Safe},
		{name: "series v2 with IPv6 on: 127.0.0.1, which IPv6 toggled at runtime cannot remove", files: map[string]*string{"etc/nsswitch.conf": s(dnsFirstSW), "etc/hosts": s(hostsOK), "etc/resolv.conf": s(threeDead)},
			ipv6: "on", binary: &Binary{GoVersion: "go1.26.8", Kubernetes: "v1.37.2+hk.abc", LoopbackFix: ptr(true), RepairRetry: ptr(true), LoopbackByListener: ptr(true)}, loopback: "127.0.0.1", verdict: Safe},
		{name: "series v1 with IPv6 on: ::1, pinned at startup", files: map[string]*string{"etc/nsswitch.conf": s(dnsFirstSW), "etc/hosts": s(hostsOK), "etc/resolv.conf": s(threeDead)},
			ipv6: "on", binary: &Binary{GoVersion: "go1.26.8", Kubernetes: "v1.36.3+hk.abc", LoopbackFix: ptr(true), RepairRetry: ptr(true), LoopbackByListener: ptr(false)}, loopback: "::1", verdict: Safe, whyHas: "::1"},
		{name: "field: IPv6 off, dns first, three dead nameservers", files: map[string]*string{"etc/nsswitch.conf": s(dnsFirstSW), "etc/hosts": s(hostsOK), "etc/resolv.conf": s(threeDead)},
			ipv6: "off", loopback: "localhost", order: DNSFirst, seconds: 30, verdict: AtRisk},
		{name: "two nameservers: 20 s, the field's working case", files: map[string]*string{"etc/nsswitch.conf": s(dnsFirstSW), "etc/hosts": s(hostsOK), "etc/resolv.conf": s("nameserver 10.0.0.1\nnameserver 10.0.0.2\n")},
			ipv6: "off", loopback: "localhost", order: DNSFirst, seconds: 20, verdict: AtRisk},
		{name: "field-slow: timeout 15", files: map[string]*string{"etc/nsswitch.conf": s(dnsFirstSW), "etc/hosts": s(hostsOK), "etc/resolv.conf": s(threeDead + "options timeout:15\n")},
			ipv6: "off", loopback: "localhost", order: DNSFirst, seconds: 90, verdict: WillFail, whyHas: "start-service-ip-repair-controllers"},
		{name: "only three nameservers count, search and single-request multiply", files: map[string]*string{"etc/nsswitch.conf": s(dnsFirstSW), "etc/hosts": s(hostsOK),
			"etc/resolv.conf": s(threeDead + "nameserver 10.0.0.4\nsearch a.example b.example\noptions single-request\n")},
			ipv6: "off", loopback: "localhost", order: DNSFirst, seconds: 3 * 2 * 3 * 5 * 2, verdict: WillFail},
		{name: "a dotted hostname adds a search domain", files: map[string]*string{"etc/nsswitch.conf": s(dnsFirstSW), "etc/hosts": s(hostsOK), "etc/resolv.conf": s(threeDead), "etc/hostname": s("cp1.corp.example\n")},
			ipv6: "off", loopback: "localhost", order: DNSFirst, seconds: 60, verdict: WillFail},
		{name: "no nsswitch.conf, new Go: files first", files: map[string]*string{"etc/hosts": s(hostsOK), "etc/resolv.conf": s(threeDead)},
			ipv6: "off", loopback: "localhost", order: FilesFirst, seconds: 0, verdict: Safe},
		{name: "no nsswitch.conf, Go 1.15: dns first, exactly 30 s is a race", files: map[string]*string{"etc/hosts": s(hostsOK), "etc/resolv.conf": s(threeDead)},
			ipv6: "off", binary: &Binary{GoVersion: "go1.15.15", Kubernetes: "v1.20.15"}, loopback: "localhost", order: DNSFirst, seconds: 30, verdict: AtRisk, whyHas: "race"},
		{name: "v1.24, no nsswitch.conf, new Go: files first, safe", files: map[string]*string{"etc/hosts": s(hostsOK), "etc/resolv.conf": s(threeDead + "options timeout:6\n")},
			ipv6: "off", binary: &Binary{GoVersion: "go1.26.8", Kubernetes: "v1.24.17"}, loopback: "localhost", order: FilesFirst, seconds: 0, verdict: Safe},
		{name: "v1.24, dns first, 36 s lookups", files: map[string]*string{"etc/nsswitch.conf": s(dnsFirstSW), "etc/hosts": s(hostsOK), "etc/resolv.conf": s(threeDead + "options timeout:6\n")},
			ipv6: "off", binary: &Binary{GoVersion: "go1.26.8", Kubernetes: "v1.24.17"}, loopback: "localhost", order: DNSFirst, seconds: 36, verdict: WillFail, whyHas: "v1.24 exits"},
		{name: "no localhost in /etc/hosts", files: map[string]*string{"etc/hosts": s("192.0.2.10 lab\n"), "etc/resolv.conf": s(threeDead)},
			ipv6: "off", loopback: "localhost", order: FilesFirst, seconds: 30, verdict: WillFail, whyHas: "no IPv4 localhost"},
		{name: "dns only", files: map[string]*string{"etc/nsswitch.conf": s("hosts: dns\n"), "etc/hosts": s(hostsOK), "etc/resolv.conf": s(threeDead)},
			ipv6: "off", loopback: "localhost", order: DNSOnly, seconds: 30, verdict: WillFail},
		{name: "specific bind address", files: map[string]*string{"etc/nsswitch.conf": s(dnsFirstSW), "etc/resolv.conf": s(threeDead),
			"etc/kubernetes/manifests/kube-apiserver.yaml": s("    - --advertise-address=192.0.2.10\n    - --bind-address=192.0.2.10\n")},
			ipv6: "off", loopback: "192.0.2.10", verdict: Safe},
		{name: "patched binary", files: map[string]*string{"etc/nsswitch.conf": s(dnsFirstSW), "etc/resolv.conf": s(threeDead + "options timeout:15\n")},
			ipv6: "off", binary: &Binary{GoVersion: "go1.26.8", Kubernetes: "v1.37.2+hk.abc", LoopbackFix: ptr(true)}, loopback: "127.0.0.1", verdict: Safe},
		{name: "repair retry only", files: map[string]*string{"etc/nsswitch.conf": s(dnsFirstSW), "etc/hosts": s(hostsOK), "etc/resolv.conf": s(threeDead + "options timeout:15\n")},
			ipv6: "off", binary: &Binary{GoVersion: "go1.26.8", Kubernetes: "v1.37.2+hk.abc", LoopbackFix: ptr(false), RepairRetry: ptr(true)},
			loopback: "localhost", order: DNSFirst, seconds: 90, verdict: AtRisk, whyHas: "retried"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := rootfs(t, tc.files)
			r := &Report{Root: root}
			r.Hostname = readHostname(root)
			r.NSSwitch, _ = readNSSwitch(root)
			r.Hosts, _ = readHosts(root)
			r.Resolv, _ = readResolv(root, r.Hostname)
			r.readIPv6(Options{Root: root, IPv6: tc.ipv6})
			r.readBind(Options{Root: root, BindAddress: tc.bind})
			r.Binary = tc.binary
			if r.Binary == nil {
				r.Binary = &Binary{GoVersion: "go1.26.8", Kubernetes: upstream137, LoopbackFix: ptr(false), RepairRetry: ptr(false)}
			}
			r.predict()
			if r.LoopbackHost != tc.loopback || r.LookupOrder != tc.order || r.LookupSeconds != tc.seconds || r.Verdict != tc.verdict {
				t.Errorf("got loopback %s order %q %.0fs verdict %q; want %s %q %.0fs %q (why: %s)",
					r.LoopbackHost, r.LookupOrder, r.LookupSeconds, r.Verdict, tc.loopback, tc.order, tc.seconds, tc.verdict, r.Why)
			}
			if !strings.Contains(r.Why, tc.whyHas) {
				t.Errorf("why %q does not mention %q", r.Why, tc.whyHas)
			}
			if r.Verdict != Safe && len(r.Fixes) == 0 {
				t.Error("no fixes for an unsafe node")
			}
		})
	}
}

func ptr(b bool) *bool { return &b }

// Bad input gives a finding, never a crash.
func TestBadInputBecomesFindings(t *testing.T) {
	root := rootfs(t, map[string]*string{
		"etc/resolv.conf":   s("nameserver\nnameserver dns.example\nbogus line\noptions timeout:x rotate frobnicate\n"),
		"etc/nsswitch.conf": s("hosts: [NOTFOUND=return] files mdns4_minimal dns\n"),
	})
	if err := os.Mkdir(filepath.Join(root, "etc", "hosts"), 0o755); err != nil { // unreadable as a file
		t.Fatal(err)
	}
	notGo := filepath.Join(root, "not-go")
	if err := os.WriteFile(notGo, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := Examine(context.Background(), Options{Root: root, Binary: notGo, IPv6: "off"})
	all := strings.Join(r.Problems, "\n")
	for _, want := range []string{"nameserver without an address", `"dns.example" is not an IP address`, `unknown keyword "bogus"`,
		`option "timeout:x" has no number`, `option "frobnicate"`, "hosts:", "not a Go binary"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not mention %q:\n%s", want, all)
		}
	}
	if r.NSSwitch.Order != FilesFirst {
		t.Errorf("criteria and unknown sources should leave files first, got %q", r.NSSwitch.Order)
	}
	if r.Verdict == "" {
		t.Error("no verdict")
	}
}

// The doctor names the patches behind a binary's series digest for every series in this checkout,
// whole or the lab's control without the loopback fix, however many patches a series carries.
func TestMatchSeriesNamesThePatches(t *testing.T) {
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	minors, err := filepath.Glob(filepath.Join(repo, "patches", "v1.*"))
	if err != nil || len(minors) == 0 {
		t.Fatalf("no series under %s/patches: %v", repo, err)
	}
	for _, dir := range minors {
		minor := filepath.Base(dir)
		for _, selection := range []string{series.All, series.NoLoopbackFix} {
			want, err := series.Select(repo, minor, selection)
			if err != nil {
				t.Fatal(err)
			}
			got := matchSeries(repo, minor+".0+hk."+want.Digest()[:12], want.Digest()[:12])
			if strings.Join(got, ",") != strings.Join(want.Numbers(), ",") {
				t.Errorf("%s %s: matched patches %v, want %v", minor, selection, got, want.Numbers())
			}
		}
	}
}

func TestFIPSFromBuildSettings(t *testing.T) {
	for _, c := range []struct {
		settings map[string]string
		want     string
	}{
		{map[string]string{}, "not built with Go's FIPS 140-3 module"},
		{map[string]string{"GOFIPS140": "off"}, "not built with Go's FIPS 140-3 module"},
		{map[string]string{"GOFIPS140": "v1.0.0-c2097c7c", "DefaultGODEBUG": "fips140=on,tlsmlkem=0"}, "module v1.0.0-c2097c7c, FIPS mode on by default"},
	} {
		if got := fipsOf(c.settings); !strings.Contains(got, c.want) {
			t.Errorf("fipsOf(%v) = %q, want %q", c.settings, got, c.want)
		}
	}
}
