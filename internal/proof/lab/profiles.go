package lab

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Profile is one network condition the apiserver boots under.
type Profile struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	DisableIPv6 bool   `json:"disableIPv6"`
	// NSSwitch is /etc/nsswitch.conf; "" makes the file absent.
	NSSwitch string `json:"nsswitch"`
	// Hosts is /etc/hosts.
	Hosts string `json:"hosts"`
	// Nameservers is how many nameserver lines resolv.conf gets; each points at the lab's
	// DNS server on its own 127.0.0.x address.
	Nameservers int `json:"nameservers"`
	// ResolvOptions is resolv.conf's options line ("" for the defaults: timeout:5 attempts:2).
	ResolvOptions string `json:"resolvOptions"`
	// DNSAnswersAfter is when the nameservers start answering; 0 means never (blackholed),
	// a negative value means from the start (working DNS).
	DNSAnswersAfter time.Duration `json:"dnsAnswersAfter"`
	// IPv6Absent makes every socket(AF_INET6, …) of etcd and the apiserver fail with
	// EAFNOSUPPORT (a seccomp filter), as on a host booted with ipv6.disable=1.
	IPv6Absent bool `json:"ipv6Absent,omitempty"`
	// EtcdStallFor > 0 freezes etcd (SIGSTOP) for that long as soon as the apiserver serves (answers
	// /readyz at all), then resumes it (SIGCONT): an outage that is not DNS.
	EtcdStallFor time.Duration `json:"etcdStallFor,omitempty"`
}

// DefaultEtcdStall is how long etcd stays frozen in the etcd-stall profile: longer than
// upstream's one-minute bound on the first service repair, shorter than the series' 5 minutes.
const DefaultEtcdStall = 90 * time.Second

const (
	hostsWithLocalhost = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n192.0.2.10\tlab\n"
	hostsNoLocalhost   = "192.0.2.10\tlab\n"
	filesFirst         = "hosts: files dns\n"
	dnsFirst           = "hosts: dns files\n"
)

// DefaultTransientDNSBack is when DNS comes back in the transient profile.
const DefaultTransientDNSBack = 90 * time.Second

var profiles = map[string]Profile{
	"healthy": {
		Name: "healthy", Description: "IPv6 on, hosts: files dns, localhost in /etc/hosts, nameservers answer",
		NSSwitch: filesFirst, Hosts: hostsWithLocalhost, Nameservers: 3, DNSAnswersAfter: -1,
	},
	"field": {
		Name: "field", Description: "the power-cut node: IPv6 off, hosts: dns files, 3 nameservers that drop packets, default resolver options (30 s per lookup)",
		DisableIPv6: true, NSSwitch: dnsFirst, Hosts: hostsWithLocalhost, Nameservers: 3,
	},
	"field-slow": {
		Name: "field-slow", Description: "field with options timeout:15 (90 s per lookup), so an unpatched v1.37 dies deterministically",
		DisableIPv6: true, NSSwitch: dnsFirst, Hosts: hostsWithLocalhost, Nameservers: 3, ResolvOptions: "timeout:15",
	},
	"transient": {
		// timeout:7 attempts:5 makes a lookup last 105 s (5 attempts x 3 servers x 7 s), longer than
		// both the 60 s hook deadline and the default --dns-back, while each query times out after
		// 7 s, so a lookup in flight sees the routes come back within 7 s.
		Name: "transient", Description: "routes come back: like field with options timeout:7 attempts:5 (105 s per lookup, 7 s per query) until the nameservers answer at 90 s (--dns-back)",
		DisableIPv6: true, NSSwitch: dnsFirst, Hosts: hostsWithLocalhost, Nameservers: 3, ResolvOptions: "timeout:7 attempts:5",
		DNSAnswersAfter: DefaultTransientDNSBack,
	},
	"etcd-stall": {
		Name: "etcd-stall", Description: "name resolution healthy, but etcd frozen (SIGSTOP) for 90 s as soon as the apiserver serves (--etcd-stall): a stalled disk or a peer catching up after a power cut",
		NSSwitch: filesFirst, Hosts: hostsWithLocalhost, Nameservers: 3, DNSAnswersAfter: -1,
		EtcdStallFor: DefaultEtcdStall,
	},
	"ipv6-absent": {
		Name: "ipv6-absent", Description: "field on a host booted with ipv6.disable=1: no AF_INET6 socket can be made (seccomp), hosts: dns files, 3 nameservers that drop packets",
		DisableIPv6: true, IPv6Absent: true, NSSwitch: dnsFirst, Hosts: hostsWithLocalhost, Nameservers: 3,
	},
	"no-localhost": {
		Name: "no-localhost", Description: "IPv6 off, no nsswitch.conf, /etc/hosts without localhost, 3 nameservers that drop packets",
		DisableIPv6: true, NSSwitch: "", Hosts: hostsNoLocalhost, Nameservers: 3,
	},
}

// Profiles returns every profile, sorted by name.
func Profiles() []Profile {
	var out []Profile
	for _, p := range profiles {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupProfile returns the named profile.
func LookupProfile(name string) (Profile, error) {
	p, ok := profiles[name]
	if !ok {
		var names []string
		for _, p := range Profiles() {
			names = append(names, p.Name)
		}
		return Profile{}, fmt.Errorf("unknown profile %q (have %s)", name, strings.Join(names, ", "))
	}
	return p, nil
}

// nameserverAddrs are the addresses the lab's DNS server listens on, one per nameserver line.
func (p Profile) nameserverAddrs() []string {
	var out []string
	for i := 0; i < p.Nameservers; i++ {
		out = append(out, fmt.Sprintf("127.0.0.%d", 53+i))
	}
	return out
}

// ResolvConf renders /etc/resolv.conf.
func (p Profile) ResolvConf() string {
	var b strings.Builder
	for _, a := range p.nameserverAddrs() {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	if p.ResolvOptions != "" {
		fmt.Fprintf(&b, "options %s\n", p.ResolvOptions)
	}
	return b.String()
}

// Killer is the profile under which a release's unpatched apiserver dies every time, and the
// line it dies with.
type Killer struct {
	Profile string
	Fatal   string
}

// KillerFor returns the killer for a release (v1.MINOR.PATCH). With exactly 30 s of DNS (field)
// the first repair races client-go's 30 s dial timeout, so every release gets field-slow, where
// each lookup outlasts the dial: releases up to 1.24 exit at the first failed repair (~31 s),
// 1.28 and later when the repair post-start hook gives up after a minute (~61 s).
func KillerFor(version string) (Killer, error) {
	var major, minor, patch int
	if _, err := fmt.Sscanf(version, "v%d.%d.%d", &major, &minor, &patch); err != nil || major != 1 {
		return Killer{}, fmt.Errorf("%q is not a Kubernetes release version (want v1.MINOR.PATCH)", version)
	}
	switch {
	case minor <= 24:
		return Killer{"field-slow", "Unable to perform initial IP allocation check"}, nil
	case minor >= 28:
		return Killer{"field-slow", `PostStartHook "start-service-ip-repair-controllers" failed`}, nil
	}
	return Killer{}, fmt.Errorf("no known killer profile for %s (1.25–1.27 are not shipped)", version)
}
