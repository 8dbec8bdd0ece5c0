// Package doctor inspects a node, an unpacked image rootfs or a binary and predicts whether
// kube-apiserver will reach itself after a power cut leaves the nameservers unreachable: which
// address its loopback client dials, whether "localhost" goes to DNS, how long a lookup takes
// against dead nameservers, and what the apiserver does then.
package doctor

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Order is a host lookup order as Go's resolver derives it.
type Order string

const (
	FilesFirst Order = "files-first"
	DNSFirst   Order = "dns-first"
	FilesOnly  Order = "files-only"
	DNSOnly    Order = "dns-only"
)

// NSSwitch is what /etc/nsswitch.conf says about hosts.
type NSSwitch struct {
	Present bool   `json:"present"`
	Hosts   string `json:"hosts,omitempty"` // the hosts line's sources, e.g. "dns files"
	// Order is the order a pure-Go (cgo-free) binary derives from the hosts line; "" when the
	// file is absent or has no hosts line, where it depends on the Go version.
	Order Order `json:"order,omitempty"`
}

// readNSSwitch applies the rules of Go's net package (conf.go) for a binary without cgo: only
// "files" and "dns" count; an unknown source counts as DNS when no "dns" source is listed.
func readNSSwitch(root string) (NSSwitch, error) {
	data, err := os.ReadFile(filepath.Join(root, "etc", "nsswitch.conf"))
	if os.IsNotExist(err) {
		return NSSwitch{}, nil
	}
	if err != nil {
		return NSSwitch{}, err
	}
	ns := NSSwitch{Present: true}
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "hosts:")
		if !ok {
			continue
		}
		var sources []string
		for _, f := range strings.Fields(rest) {
			if !strings.HasPrefix(f, "[") { // skip [NOTFOUND=return] criteria
				sources = append(sources, f)
			}
		}
		ns.Hosts = strings.Join(sources, " ")
		ns.Order = orderOf(sources)
	}
	return ns, nil
}

func orderOf(sources []string) Order {
	hasDNS := false
	for _, s := range sources {
		hasDNS = hasDNS || s == "dns"
	}
	var files, dns bool
	first := ""
	for _, s := range sources {
		switch {
		case s == "files" || s == "dns":
		case !hasDNS:
			s = "dns" // Go treats an unknown source as DNS when there is no dns source
		default:
			continue
		}
		if s == "files" {
			files = true
		} else {
			dns = true
		}
		if first == "" {
			first = s
		}
	}
	switch {
	case files && dns && first == "files":
		return FilesFirst
	case files && dns:
		return DNSFirst
	case files:
		return FilesOnly
	case dns:
		return DNSOnly
	}
	return ""
}

// Hosts is what /etc/hosts says about localhost.
type Hosts struct {
	Present       bool `json:"present"`
	LocalhostIPv4 bool `json:"localhostIPv4"`
	LocalhostIPv6 bool `json:"localhostIPv6"`
}

func readHosts(root string) (Hosts, error) {
	data, err := os.ReadFile(filepath.Join(root, "etc", "hosts"))
	if os.IsNotExist(err) {
		return Hosts{}, nil
	}
	if err != nil {
		return Hosts{}, err
	}
	h := Hosts{Present: true}
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		addr, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, name := range f[1:] {
			if strings.EqualFold(strings.TrimSuffix(name, "."), "localhost") {
				if addr.Is4() || addr.Is4In6() {
					h.LocalhostIPv4 = true
				} else {
					h.LocalhostIPv6 = true
				}
			}
		}
	}
	return h, nil
}

// Resolv is resolv.conf as Go's resolver reads it (dnsconfig_unix.go).
type Resolv struct {
	Present       bool     `json:"present"`
	Nameservers   []string `json:"nameservers"` // every nameserver line with an IP
	Counted       []string `json:"counted"`     // the ones Go uses: the first 3
	Search        []string `json:"search"`
	SearchSource  string   `json:"searchSource"` // "search", "domain", "hostname" or ""
	Ndots         int      `json:"ndots"`
	Timeout       int      `json:"timeoutSeconds"`
	Attempts      int      `json:"attempts"`
	Rotate        bool     `json:"rotate"`
	SingleRequest bool     `json:"singleRequest"`
	UseTCP        bool     `json:"useTCP"`
	Ignored       []string `json:"ignored,omitempty"` // lines or options Go ignores, and why
}

func readResolv(root, hostname string) (Resolv, error) {
	r := Resolv{Ndots: 1, Timeout: 5, Attempts: 2}
	f, err := os.Open(filepath.Join(root, "etc", "resolv.conf"))
	if err != nil && !os.IsNotExist(err) {
		return r, err
	}
	if err == nil {
		defer f.Close()
		r.Present = true
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if len(line) > 0 && (line[0] == ';' || line[0] == '#') {
				continue
			}
			fields := strings.Fields(line)
			if len(fields) == 0 {
				continue
			}
			switch fields[0] {
			case "nameserver":
				if len(fields) < 2 {
					r.Ignored = append(r.Ignored, fmt.Sprintf("line %d: nameserver without an address", n))
				} else if _, err := netip.ParseAddr(fields[1]); err != nil {
					r.Ignored = append(r.Ignored, fmt.Sprintf("line %d: nameserver %q is not an IP address", n, fields[1]))
				} else {
					r.Nameservers = append(r.Nameservers, fields[1])
				}
			case "domain":
				if len(fields) > 1 {
					r.Search, r.SearchSource = []string{fields[1]}, "domain"
				}
			case "search":
				r.Search, r.SearchSource = nil, "search"
				for _, s := range fields[1:] {
					if s != "." {
						r.Search = append(r.Search, s)
					}
				}
			case "options":
				for _, o := range fields[1:] {
					r.option(n, o)
				}
			default:
				r.Ignored = append(r.Ignored, fmt.Sprintf("line %d: unknown keyword %q", n, fields[0]))
			}
		}
		if err := sc.Err(); err != nil {
			return r, err
		}
	}
	r.Counted = r.Nameservers
	if len(r.Counted) > 3 {
		r.Counted = r.Counted[:3]
	}
	if len(r.Search) == 0 && r.SearchSource == "" {
		// Go derives a search domain from a dotted hostname.
		if i := strings.IndexByte(hostname, '.'); i >= 0 && i < len(hostname)-1 {
			r.Search, r.SearchSource = []string{hostname[i+1:]}, "hostname"
		}
	}
	return r, nil
}

var numOpt = regexp.MustCompile(`^(ndots|timeout|attempts):(.*)$`)

func (r *Resolv) option(line int, o string) {
	if m := numOpt.FindStringSubmatch(o); m != nil {
		n, err := strconv.Atoi(m[2])
		if err != nil {
			r.Ignored = append(r.Ignored, fmt.Sprintf("line %d: option %q has no number (Go reads it as 0)", line, o))
		}
		switch m[1] {
		case "ndots":
			r.Ndots = min(max(n, 0), 15)
		case "timeout":
			r.Timeout = max(n, 1)
		case "attempts":
			r.Attempts = max(n, 1)
		}
		return
	}
	switch o {
	case "rotate":
		r.Rotate = true
	case "single-request", "single-request-reopen":
		r.SingleRequest = true
	case "use-vc", "usevc", "tcp":
		r.UseTCP = true
	case "trust-ad", "edns0", "no-reload":
	default:
		r.Ignored = append(r.Ignored, fmt.Sprintf("line %d: option %q is not one Go knows", line, o))
	}
}

// bindAddressRE finds --bind-address in a static-pod manifest or a command line.
var bindAddressRE = regexp.MustCompile(`--bind-address[= ]"?([0-9A-Fa-f:.]+)`)

// readBindAddress returns the apiserver's --bind-address from a manifest, or "" if it sets none.
func readBindAddress(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if m := bindAddressRE.FindSubmatch(data); m != nil {
		return string(m[1]), nil
	}
	return "", nil
}
