// Package resolveprobe shows, inside a container or sandbox, how this machine's configuration
// makes a pure-Go program resolve "localhost": it serves a blackhole nameserver on the address
// resolv.conf names, resolves "localhost" the way the apiserver's client does, and reports the
// answer, the time it took and every DNS query it caused.
package resolveprobe

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/proof/dnshole"
)

// Command is the hidden hk subcommand that runs Main.
const Command = "__resolve-probe"

// Report is what the probe saw.
type Report struct {
	NSSwitchHosts string          `json:"nsswitchHosts"` // the hosts line, or "(absent)"
	Addrs         []string        `json:"addrs"`
	Error         string          `json:"error,omitempty"`
	Seconds       float64         `json:"seconds"`
	Queries       []dnshole.Query `json:"queries"`
}

// Run serves nameservers on port 53 of each address (which resolv.conf must name) that answer
// only after answerAfter (0: never), and resolves "localhost" with Go's own resolver, as a
// cgo-free apiserver does, giving up after timeout.
func Run(ctx context.Context, nameservers []string, answerAfter, timeout time.Duration) (*Report, error) {
	var addrs []string
	for _, ns := range nameservers {
		addrs = append(addrs, net.JoinHostPort(ns, "53"))
	}
	hole, err := dnshole.Start(answerAfter, addrs...)
	if err != nil {
		return nil, err
	}
	defer hole.Close()
	r := &Report{NSSwitchHosts: hostsLine("/etc/nsswitch.conf")}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	resolver := &net.Resolver{PreferGo: true}
	found, err := resolver.LookupHost(ctx, "localhost")
	r.Seconds = time.Since(start).Seconds()
	r.Addrs = found
	if err != nil {
		r.Error = err.Error()
	}
	r.Queries = hole.Queries()
	return r, nil
}

func hostsLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(absent)"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "hosts:") {
			return strings.Join(strings.Fields(t), " ")
		}
	}
	return "(no hosts line)"
}

// String is a one-line summary.
func (r *Report) String() string {
	answer := strings.Join(r.Addrs, ",")
	if r.Error != "" {
		answer = "error: " + r.Error
	}
	return fmt.Sprintf("nsswitch %q → localhost %s in %.2fs, %d DNS queries", r.NSSwitchHosts, answer, r.Seconds, len(r.Queries))
}
