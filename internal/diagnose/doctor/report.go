package doctor

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/source/vuln"
)

// ExitCode maps a verdict to the CLI's exit status (1 and 2 stay errors and usage).
func (r *Report) ExitCode() int {
	switch r.Verdict {
	case Safe:
		return 0
	case AtRisk:
		return 3
	}
	return 4
}

// Write prints the report for an operator.
func (r *Report) Write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("root:          %s (hostname %q)", r.Root, r.Hostname)
	switch {
	case !r.NSSwitch.Present:
		p("nsswitch.conf: absent (Go >= 1.16 reads /etc/hosts first; Go 1.7-1.15 asked DNS first)")
	case r.NSSwitch.Hosts == "":
		p("nsswitch.conf: no hosts line (treated like an absent file)")
	default:
		p("nsswitch.conf: hosts: %s → %s", r.NSSwitch.Hosts, r.NSSwitch.Order)
	}
	p("/etc/hosts:    localhost IPv4 %s, IPv6 %s", yes(r.Hosts.LocalhostIPv4), yes(r.Hosts.LocalhostIPv6))
	rc := r.Resolv
	counted := fmt.Sprintf("%d nameserver lines, Go uses %d", len(rc.Nameservers), len(rc.Counted))
	if len(rc.Nameservers) > 3 {
		counted += fmt.Sprintf(" (ignores %s)", strings.Join(rc.Nameservers[3:], ", "))
	}
	search := "none"
	if len(rc.Search) > 0 {
		search = strings.Join(rc.Search, " ") + " (from " + rc.SearchSource + ")"
	}
	p("resolv.conf:   %s; search %s; ndots:%d timeout:%d attempts:%d%s", counted, search, rc.Ndots, rc.Timeout, rc.Attempts, flags(rc))
	p("IPv6 loopback: %s (%s)", yes(r.IPv6Loopback), r.IPv6Source)
	p("bind address:  %s (%s)", r.BindAddress, r.BindSource)
	if b := r.Binary; b != nil {
		series := "upstream (no +hk suffix)"
		if b.Series != "" {
			series = b.Series
			if b.Patches != nil {
				series += " = patches " + strings.Join(b.Patches, ",")
			}
		}
		p("binary:        %s: %s, Kubernetes %s, CGO_ENABLED=%s, series %s", b.Path, b.GoVersion, orUnknown(b.Kubernetes), orUnknown(b.Settings["CGO_ENABLED"]), series)
		p("FIPS:          %s", b.FIPS)
		p("loopback cert: valid %d days from each start (%s)", b.LoopbackCertDays, map[bool]string{true: "kubernetes#130047 or our backport of it",
			false: "before kubernetes#130047: after a year up the apiserver's client to itself fails TLS"}[b.LoopbackCertDays > 365])
		if v := b.Vulnerabilities; v != nil {
			c := v.Counts()
			var called []string
			for _, f := range v.Called() {
				if !slices.Contains(called, f.ID) {
					called = append(called, f.ID)
				}
			}
			p("known vulns:   %d linked, %d imported only, %d module only (govulncheck binary mode, database dated %s; in a stripped binary every vulnerable function of a linked package counts: `hk vuln scan --version` says what is called)",
				c[vuln.Called], c[vuln.Imported], c[vuln.Required], v.DatabaseDate.Format("2006-01-02"))
			if len(called) > 0 {
				p("               linked: %s", strings.Join(called, " "))
			}
		}
	}
	p("")
	p("loopback host: %s", r.LoopbackHost)
	if r.LoopbackHost == "localhost" {
		p("lookup:        %s; worst case %.0f s against nameservers that drop packets (dial timeout %d s, first-repair deadline %d s)",
			r.LookupOrder, r.LookupSeconds, dialTimeout, hookDeadline)
	}
	p("verdict:       %s: %s", strings.ToUpper(r.Verdict), r.Why)
	for i, f := range r.Fixes {
		p("fix %d:         %s", i+1, f)
	}
	for _, pr := range r.Problems {
		p("note:          %s", pr)
	}
}

func flags(r Resolv) string {
	var f []string
	if r.Rotate {
		f = append(f, "rotate")
	}
	if r.SingleRequest {
		f = append(f, "single-request (doubles the time)")
	}
	if r.UseTCP {
		f = append(f, "use-vc")
	}
	if len(f) == 0 {
		return ""
	}
	return " " + strings.Join(f, " ")
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
