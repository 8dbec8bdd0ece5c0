package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hardened-hyperkube/hk/internal/proof/lab"
	"github.com/hardened-hyperkube/hk/internal/source/series"
)

func bootResult(b lab.Boot) *lab.Result { return &lab.Result{Boots: []lab.Boot{b}} }

func TestGridFailuresHoldTheSeriesToReadyAndThirtySeconds(t *testing.T) {
	ready := bootResult(lab.Boot{Outcome: lab.OutcomeReady, ReadyAfter: 3, ExitedAfter: -1, TermSentAfter: -1})
	fatal := "F1207 02:00:00.000000 1 hooks.go:204] PostStartHook \"start-service-ip-repair-controllers\" failed: timeout"
	exited := bootResult(lab.Boot{Outcome: lab.OutcomeExited, ExitedAfter: 61.5, ExitCode: 255, TermSentAfter: -1,
		FatalLine: fatal, LogTail: []string{"a", "b", "c", fatal}})
	termFast := bootResult(lab.Boot{Outcome: lab.OutcomeExited, TermSentAfter: 20, ExitedAfter: 30.1, ExitCode: 0})
	termSlow := bootResult(lab.Boot{Outcome: lab.OutcomeExited, TermSentAfter: 20, ExitedAfter: 52.4, ExitCode: 0})
	row := backportRow{Version: "v1.37.2", Series: "applies (9 patches)", UpstreamTests: "9 packages pass", Cells: []backportCell{
		{Profile: "etcd-stall", Build: series.None, Boot: exited, Sigterm: termSlow}, // upstream may fail
		{Profile: "etcd-stall", Build: series.All, Boot: ready, Sigterm: termFast},
		{Profile: "field-slow", Build: series.NoLoopbackFix, Sigterm: termSlow},
		{Profile: "ipv6-absent", Build: series.All, Boot: exited, Sigterm: termFast},
	}}
	got := gridFailures(row)
	if len(got) != 2 || !strings.Contains(got[0], "field-slow series w/o loopback fix: SIGTERM: exit 0, 32.4 s after") ||
		!strings.Contains(got[1], "ipv6-absent series: exits 255 at 61.5 s") {
		t.Fatalf("failures: %q", got)
	}

	var out bytes.Buffer
	writeBackportTable(&out, []backportRow{row})
	for _, want := range []string{
		"v1.37.2  applies (9 patches)",
		"exits 255 at 61.5 s",
		"exit 0, 10.1 s after",
		"FAIL v1.37.2 ipv6-absent series",
		"v1.37.2 etcd-stall upstream:\n  a\n  b\n  c\n  " + fatal,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestTermExitSaysWhenTheSignalWasNotSent(t *testing.T) {
	r := bootResult(lab.Boot{Outcome: lab.OutcomeExited, TermSentAfter: -1, ExitedAfter: 15, ExitCode: 255})
	if got := termExit(r); got != "not sent: exited" {
		t.Fatalf("termExit = %q", got)
	}
}
