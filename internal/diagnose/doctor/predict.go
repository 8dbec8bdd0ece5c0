package doctor

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/source/vuln"
)

// Verdicts, for the case the doctor exists for: every nameserver unreachable.
const (
	Safe     = "safe"
	AtRisk   = "at risk"
	WillFail = "will fail"
)

// Timeouts in kube-apiserver that a slow lookup of "localhost" runs into.
const (
	dialTimeout  = 30 // client-go's dialer; it includes name resolution
	hookDeadline = 60 // v1.25+: the first IP/port repair must succeed within a minute
)

// Options says what to inspect.
type Options struct {
	Root        string // "/" for this node, or an unpacked rootfs
	Binary      string // "" to look for kube-apiserver or hyperkube under Root
	IPv6        string // "on", "off", or "auto" (read lo; only for Root "/")
	Manifest    string // static-pod manifest; "" for Root/etc/kubernetes/manifests/kube-apiserver.yaml
	BindAddress string // overrides the manifest
	RepoRoot    string // a checkout whose patches/ identify our series, or ""
	// Vuln, when set, scans the binary with the pinned vulnerability database (nil: not checked).
	Vuln func(ctx context.Context, binary string) (*vuln.Report, error)
}

// Report is the doctor's findings and prediction.
type Report struct {
	Root         string   `json:"root"`
	Hostname     string   `json:"hostname"`
	NSSwitch     NSSwitch `json:"nsswitch"`
	Hosts        Hosts    `json:"hosts"`
	Resolv       Resolv   `json:"resolv"`
	IPv6Loopback bool     `json:"ipv6Loopback"`
	IPv6Source   string   `json:"ipv6Source"`
	BindAddress  string   `json:"bindAddress"`
	BindSource   string   `json:"bindSource"`
	Binary       *Binary  `json:"binary,omitempty"`

	// LoopbackHost is what the apiserver's client to itself dials.
	LoopbackHost string `json:"loopbackHost"`
	// LookupOrder is how "localhost" is resolved, when it is.
	LookupOrder Order `json:"lookupOrder,omitempty"`
	// LookupSeconds is the worst-case time of one lookup of "localhost" against nameservers that
	// drop packets; 0 when no nameserver is asked.
	LookupSeconds float64 `json:"lookupSeconds"`
	// Resolves says whether the lookup ends with an address while DNS is dead.
	Resolves bool     `json:"resolves"`
	Verdict  string   `json:"verdict"`
	Why      string   `json:"why"`
	Fixes    []string `json:"fixes,omitempty"`
	Problems []string `json:"problems,omitempty"`
}

// Examine inspects the root and binary and predicts the outcome.
func Examine(ctx context.Context, o Options) *Report {
	r := &Report{Root: o.Root}
	r.Hostname = readHostname(o.Root)
	var err error
	if r.NSSwitch, err = readNSSwitch(o.Root); err != nil {
		r.problem("nsswitch.conf: %v", err)
	}
	if r.Hosts, err = readHosts(o.Root); err != nil {
		r.problem("hosts: %v", err)
	}
	if r.Resolv, err = readResolv(o.Root, r.Hostname); err != nil {
		r.problem("resolv.conf: %v", err)
	}
	r.Problems = append(r.Problems, r.Resolv.Ignored...)
	r.readIPv6(o)
	r.readBind(o)
	if bin := o.Binary; bin != "" || o.Root != "" {
		if bin == "" {
			bin = findBinary(o.Root)
		}
		if bin != "" {
			r.Binary = inspectBinary(ctx, bin, o.RepoRoot)
			if o.Vuln != nil {
				if rep, err := o.Vuln(ctx, bin); err != nil {
					r.Binary.Problems = append(r.Binary.Problems, "vulnerabilities not checked: "+err.Error())
				} else {
					r.Binary.Vulnerabilities = rep
				}
			}
			r.Problems = append(r.Problems, r.Binary.Problems...)
		} else {
			r.problem("no kube-apiserver or hyperkube found under %s (give --binary); assuming an unpatched v1.28+ apiserver", o.Root)
		}
	}
	r.predict()
	return r
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func readHostname(root string) string {
	if root == "/" {
		if h, err := os.Hostname(); err == nil {
			return h
		}
	}
	data, err := os.ReadFile(filepath.Join(root, "etc", "hostname"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func (r *Report) readIPv6(o Options) {
	switch o.IPv6 {
	case "on", "off":
		r.IPv6Loopback, r.IPv6Source = o.IPv6 == "on", "--ipv6="+o.IPv6
		return
	}
	if o.Root != "/" {
		r.IPv6Loopback, r.IPv6Source = false, "assumed off (a rootfs has no interfaces; give --ipv6=on|off)"
		return
	}
	// /proc/net/if_inet6 lists the IPv6 addresses of this network namespace.
	data, err := os.ReadFile("/proc/net/if_inet6")
	if err != nil {
		r.IPv6Source = "no /proc/net/if_inet6: IPv6 absent"
		return
	}
	r.IPv6Loopback = strings.Contains(string(data), "00000000000000000000000000000001")
	r.IPv6Source = "lo on this node"
}

func (r *Report) readBind(o Options) {
	if o.BindAddress != "" {
		r.BindAddress, r.BindSource = o.BindAddress, "--bind-address"
		return
	}
	manifest := o.Manifest
	if manifest == "" {
		manifest = filepath.Join(o.Root, "etc", "kubernetes", "manifests", "kube-apiserver.yaml")
	}
	addr, err := readBindAddress(manifest)
	switch {
	case err == nil && addr != "":
		r.BindAddress, r.BindSource = addr, manifest
	case err == nil:
		r.BindAddress, r.BindSource = "0.0.0.0", "the default: "+manifest+" sets no --bind-address"
	default:
		r.BindAddress, r.BindSource = "0.0.0.0", "the default: no manifest at "+manifest
	}
}

func findBinary(root string) string {
	for _, dir := range []string{"usr/local/bin", "usr/bin", "bin"} {
		for _, name := range []string{"kube-apiserver", "hyperkube"} {
			p := filepath.Join(root, dir, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p
			}
		}
	}
	return ""
}

// predict follows the apiserver: which host its loopback client dials, how that name resolves
// with every nameserver dead, and what the version does when its first repair cannot connect.
func (r *Report) predict() {
	bind, err := netip.ParseAddr(r.BindAddress)
	wildcard := err == nil && bind.IsUnspecified()
	patched := r.Binary != nil && r.Binary.LoopbackFix != nil && *r.Binary.LoopbackFix
	switch {
	case err != nil:
		r.LoopbackHost = r.BindAddress
	case !wildcard:
		r.LoopbackHost = bind.String()
	case patched:
		// Series v2 chooses by the listener: 127.0.0.1 on Go's dual-stack wildcard socket.
		// Series v1 preferred ::1 when it existed at startup.
		r.LoopbackHost = "127.0.0.1"
		byListener := r.Binary.LoopbackByListener != nil && *r.Binary.LoopbackByListener
		if r.IPv6Loopback && !byListener {
			r.LoopbackHost = "::1"
		}
	case r.IPv6Loopback:
		// Go reports a 0.0.0.0 listener as [::]; upstream then looks for ::1 and finds it.
		r.LoopbackHost = "::1"
	default:
		r.LoopbackHost = "localhost"
	}
	if r.LoopbackHost != "localhost" {
		r.Verdict = Safe
		r.Why = fmt.Sprintf("the loopback client dials %s, an address: no name is resolved", r.LoopbackHost)
		r.fixes()
		return
	}

	r.LookupOrder = r.NSSwitch.Order
	if r.LookupOrder == "" {
		// No nsswitch.conf (or no hosts line): Go >= 1.16 reads /etc/hosts first; Go 1.7-1.15
		// asked DNS first.
		r.LookupOrder = FilesFirst
		if r.Binary != nil && goMinor(r.Binary.GoVersion) > 0 && goMinor(r.Binary.GoVersion) < 16 {
			r.LookupOrder = DNSFirst
		}
	}
	inHosts := r.Hosts.LocalhostIPv4 // the dual-stack listener accepts 127.0.0.1 even without IPv6
	askDNS := r.LookupOrder == DNSFirst || r.LookupOrder == DNSOnly ||
		(r.LookupOrder == FilesFirst && !inHosts)
	if askDNS {
		r.LookupSeconds = r.Resolv.worstCase()
	}
	r.Resolves = (r.LookupOrder != DNSOnly) && inHosts
	minor := 0
	if r.Binary != nil {
		minor = minorOf(r.Binary.Kubernetes)
	}
	retries := r.Binary != nil && r.Binary.RepairRetry != nil && *r.Binary.RepairRetry
	t := r.LookupSeconds
	switch {
	case !r.Resolves:
		r.Verdict = WillFail
		r.Why = "\"localhost\" cannot resolve while DNS is down: " + r.whyUnresolved()
		if retries {
			r.Why += "; the apiserver stays up (repair retry) but is not ready until DNS returns"
		}
	case t == 0:
		r.Verdict = Safe
		r.Why = "\"localhost\" comes from /etc/hosts without asking DNS"
	case t < dialTimeout:
		r.Verdict = AtRisk
		r.Why = fmt.Sprintf("every loopback connection waits %.0f s for DNS before /etc/hosts answers; start-up is slow but within the %d s dial timeout", t, dialTimeout)
	case retries:
		r.Verdict = AtRisk
		r.Why = fmt.Sprintf("a lookup takes %.0f s, not less than the %d s dial timeout, but the repair is retried: ready once a lookup falls back to /etc/hosts or DNS returns", t, dialTimeout)
	case minor != 0 && minor <= 24 && t == dialTimeout:
		r.Verdict = AtRisk
		r.Why = fmt.Sprintf("a lookup takes exactly the %d s dial timeout: a race; v1.%d exits at its first ClusterIP repair when the dial loses (the lab has seen both outcomes)", dialTimeout, minor)
	case minor != 0 && minor <= 24:
		r.Verdict = WillFail
		r.Why = fmt.Sprintf("a lookup takes %.0f s, not under the %d s dial timeout: v1.%d exits at its first ClusterIP repair (\"Unable to perform initial IP allocation check\")", t, dialTimeout, minor)
	case t < hookDeadline:
		r.Verdict = AtRisk
		r.Why = fmt.Sprintf("a lookup takes %.0f s, not less than the %d s dial timeout, so early requests fail; a lookup that falls back to /etc/hosts at %.0f s lets the first repair succeed before the %d s deadline", t, dialTimeout, t, hookDeadline)
	default:
		r.Verdict = WillFail
		r.Why = fmt.Sprintf("a lookup takes %.0f s: no loopback request succeeds before the %d s deadline of the first IP/port repair, and the apiserver exits (PostStartHook \"start-service-ip-repair-controllers\" failed)", t, hookDeadline)
	}
	r.fixes()
}

func (r *Report) whyUnresolved() string {
	if r.LookupOrder == DNSOnly {
		return "nsswitch.conf lists only dns"
	}
	return "/etc/hosts has no IPv4 localhost line"
}

// worstCase is the time Go's resolver spends on one name with 0 dots when no nameserver
// answers: every search suffix and the bare name, each tried attempts times on every counted
// nameserver, each query waiting timeout; A and AAAA go in parallel unless single-request.
func (c Resolv) worstCase() float64 {
	servers := len(c.Counted)
	if servers == 0 {
		return 0 // Go falls back to 127.0.0.1:53 and [::1]:53, which refuse at once
	}
	t := float64((len(c.Search) + 1) * c.Attempts * servers * c.Timeout)
	if c.SingleRequest {
		t *= 2
	}
	return t
}

// fixes ranks what would make the node safe, most effective first.
func (r *Report) fixes() {
	if r.Verdict == Safe && r.LoopbackHost != "::1" {
		return
	}
	if r.Verdict == Safe {
		after := "after a restart it dials \"localhost\""
		if r.Binary != nil && r.Binary.LoopbackFix != nil && *r.Binary.LoopbackFix {
			after = "after a restart it dials 127.0.0.1"
		}
		r.Fixes = append(r.Fixes, "safe only while IPv6 stays on: disabling IPv6 while the apiserver runs removes ::1 and breaks its loopback client, which keeps dialling ::1 (kubernetes#95706); "+after+"; run our hyperkube (series v3's 0002 dials 127.0.0.1 on a dual-stack listener) to be safe either way")
		return
	}
	r.Fixes = append(r.Fixes, "run the patched hyperkube (series 0001): the loopback client dials 127.0.0.1/::1 and never resolves a name")
	if r.LookupOrder != FilesFirst && r.LookupOrder != FilesOnly {
		r.Fixes = append(r.Fixes, "set \"hosts: files dns\" in /etc/nsswitch.conf (the product image does this)")
	}
	if !r.Hosts.LocalhostIPv4 {
		r.Fixes = append(r.Fixes, "add \"127.0.0.1 localhost\" to /etc/hosts")
	}
	r.Fixes = append(r.Fixes, "keep IPv6 on the loopback (::1) so the apiserver finds a loopback of its listener's family")
	r.Fixes = append(r.Fixes, "bind the apiserver to a specific address (--bind-address) instead of 0.0.0.0")
}
