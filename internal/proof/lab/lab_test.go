package lab

import (
	"net"
	"strings"
	"testing"
)

func TestParseProcAddr(t *testing.T) {
	tests := []struct {
		in   string
		ip   string
		port int
	}{
		{"0100007F:192B", "127.0.0.1", 6443},
		{"0A0200C0:0050", "192.0.2.10", 80},
		{"00000000000000000000000001000000:192B", "::1", 6443},
		{"0000000000000000FFFF00000100007F:192B", "127.0.0.1", 6443}, // v4-mapped
	}
	for _, tc := range tests {
		ip, port, ok := parseProcAddr(tc.in)
		if !ok || !ip.Equal(net.ParseIP(tc.ip)) || port != tc.port {
			t.Errorf("parseProcAddr(%q) = %v %d %v, want %s %d", tc.in, ip, port, ok, tc.ip, tc.port)
		}
	}
	if _, _, ok := parseProcAddr("zz:1"); ok {
		t.Error("accepted garbage")
	}
}

func TestProfilesRenderResolvConf(t *testing.T) {
	p, err := LookupProfile("field-slow")
	if err != nil {
		t.Fatal(err)
	}
	want := "nameserver 127.0.0.53\nnameserver 127.0.0.54\nnameserver 127.0.0.55\noptions timeout:15\n"
	if got := p.ResolvConf(); got != want {
		t.Errorf("resolv.conf:\n%s\nwant:\n%s", got, want)
	}
	if _, err := LookupProfile("nope"); err == nil || !strings.Contains(err.Error(), "field-slow") {
		t.Errorf("unknown profile error should list the profiles: %v", err)
	}
}

func TestKillerFor(t *testing.T) {
	for _, tc := range []struct {
		version, fatal string
		wantErr        bool
	}{
		{version: "v1.21.14", fatal: "Unable to perform initial IP allocation check"},
		{version: "v1.24.17", fatal: "Unable to perform initial IP allocation check"},
		{version: "v1.35.4", fatal: `PostStartHook "start-service-ip-repair-controllers" failed`},
		{version: "v1.37.2", fatal: `PostStartHook "start-service-ip-repair-controllers" failed`},
		{version: "v1.26.0", wantErr: true},
		{version: "1.37", wantErr: true},
	} {
		k, err := KillerFor(tc.version)
		if (err != nil) != tc.wantErr {
			t.Errorf("KillerFor(%s): error %v, want error %v", tc.version, err, tc.wantErr)
			continue
		}
		if err == nil && (k.Profile != "field-slow" || k.Fatal != tc.fatal) {
			t.Errorf("KillerFor(%s) = %+v, want field-slow and %q", tc.version, k, tc.fatal)
		}
	}
}

func TestResultBrief(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{Boots: []Boot{{Outcome: OutcomeReady, ReadyAfter: 2.34}}}, "ready 2.3 s"},
		{Result{Boots: []Boot{{Outcome: OutcomeExited, ExitCode: 255, ExitedAfter: 31.46,
			FatalLine: "F1128 12:00:30.399495 19 controller.go:161] Unable to perform initial IP allocation check"}}},
			"exits 255 at 31.5 s: Unable to perform…"},
		{Result{Boots: []Boot{{Outcome: OutcomeNotReady}}}, "not ready by the deadline"},
		{Result{Error: "no root"}, "error: no root"},
	} {
		if got := tc.r.Brief(17); got != tc.want {
			t.Errorf("Brief = %q, want %q", got, tc.want)
		}
	}
	if got := Short("ääää", 2); got != "ää…" {
		t.Errorf("short cut inside a rune: %q", got)
	}
}

func TestSpread(t *testing.T) {
	bs := []Boot{{RetriesAfter: []float64{32.9, 40}}, {RetriesAfter: []float64{33.0, 41.5}}, {RetriesAfter: []float64{32.5}}}
	got := Spread(bs)
	want := []RetrySpread{{Retry: 1, Earliest: 32.5, Latest: 33.0}}
	if len(got) != len(want) || got[0] != want[0] {
		t.Errorf("Spread = %+v, want %+v (a retry counts only when every apiserver made it)", got, want)
	}
	if got := Spread(nil); len(got) != 0 {
		t.Errorf("Spread(nil) = %+v, want none", got)
	}
}
