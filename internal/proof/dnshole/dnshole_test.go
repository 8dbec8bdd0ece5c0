package dnshole

import (
	"context"
	"net"
	"testing"
	"time"
)

// resolverFor returns a pure-Go resolver that sends every query to addr over the given network.
func resolverFor(addr, network string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

func TestBlackholeRecordsAndNeverAnswers(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			s, err := Start(0, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			addr := s.udp[0].LocalAddr().String()
			if network == "tcp" {
				addr = s.tcp[0].Addr().String()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err = resolverFor(addr, network).LookupIPAddr(ctx, "localhost.")
			if err == nil {
				t.Fatal("lookup succeeded against a blackhole")
			}
			qs := s.Queries()
			if len(qs) == 0 {
				t.Fatal("no query recorded")
			}
			for _, q := range qs {
				if q.Name != "localhost." || q.Proto != network || q.Answered {
					t.Errorf("unexpected query record %+v", q)
				}
			}
		})
	}
}

func TestAnswersAfterDelay(t *testing.T) {
	s, err := Start(time.Nanosecond, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := resolverFor(s.udp[0].LocalAddr().String(), "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := r.LookupIPAddr(ctx, "localhost.")
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || !addrs[0].IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("localhost resolved to %v, want [127.0.0.1]", addrs)
	}
	if _, err := r.LookupIPAddr(ctx, "example.invalid."); err == nil {
		t.Error("expected NXDOMAIN for another name")
	}
}
