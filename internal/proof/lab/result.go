package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Outcomes of one boot.
const (
	OutcomeReady    = "ready"     // reached /readyz 200 and was still running at the end
	OutcomeExited   = "exited"    // the apiserver process exited
	OutcomeNotReady = "not-ready" // still running, never ready by the deadline
)

// Boot is what one start of etcd and kube-apiserver showed.
type Boot struct {
	Outcome string `json:"outcome"`
	// ReadyAfter is the time from starting the apiserver to the first /readyz 200; -1 if never.
	ReadyAfter float64 `json:"readyAfterSeconds"`
	// ExitedAfter is the time from starting the apiserver to its exit; -1 if it did not exit.
	ExitedAfter float64 `json:"exitedAfterSeconds"`
	ExitCode    int     `json:"exitCode"`
	FatalLine   string  `json:"fatalLine,omitempty"`
	// AliveAfterReady is how long the apiserver was observed running after it became ready.
	AliveAfterReady float64 `json:"aliveAfterReadySeconds"`
	// DNSQueries counts queries the lab's nameservers received during this boot, by name.
	DNSQueries int            `json:"dnsQueries"`
	DNSNames   map[string]int `json:"dnsNames,omitempty"`
	// LoopbackHost is the address the apiserver's client to itself connected to, read from the
	// sandbox's TCP table ("127.0.0.1", "::1"), or "none" when no such connection was seen.
	LoopbackHost string `json:"loopbackHost"`
	// TermSentAfter is when the lab sent SIGTERM, from the apiserver's start; -1 if it did not.
	TermSentAfter float64 `json:"termSentAfterSeconds"`
	// IPv6OffAfter is when the lab disabled IPv6 while the apiserver ran; -1 if it did not.
	IPv6OffAfter float64 `json:"ipv6OffAfterSeconds"`
	// After IPv6 was disabled at runtime: whether the loopback client still renewed the
	// apiserver's identity lease by the end of the hold, and which loopback address it used.
	LeaseRenewedAfterIPv6Off bool   `json:"leaseRenewedAfterIPv6Off,omitempty"`
	LoopbackHostAfterIPv6Off string `json:"loopbackHostAfterIPv6Off,omitempty"`
	// Apiserver numbers the apiservers of a storm (1..N); 0 for a single boot.
	Apiserver int `json:"apiserver,omitempty"`
	// RetriesAfter are the times, from the apiserver's start, at which it logged a failed first
	// repair and a retry (storms only).
	RetriesAfter []float64 `json:"retriesAfterSeconds,omitempty"`
	// EtcdStalledAfter and EtcdResumedAfter are when the lab froze and resumed etcd, from the
	// apiserver's start; -1 if it did not.
	EtcdStalledAfter float64 `json:"etcdStalledAfterSeconds"`
	EtcdResumedAfter float64 `json:"etcdResumedAfterSeconds"`
	// LoopbackCertDays is the lifetime of the certificate the apiserver serves to its loopback
	// client (SNI apiserver-loopback-client), read once it is ready; LoopbackCertNotAfter is its
	// expiry (RFC 3339). 0 and "" when not read.
	LoopbackCertDays     float64 `json:"loopbackCertDays,omitempty"`
	LoopbackCertNotAfter string  `json:"loopbackCertNotAfter,omitempty"`
	// Note records a lab step that could not be done (not an apiserver failure).
	Note string `json:"note,omitempty"`
	// NotReadyChecks are the /readyz checks that failed at the last failing probe.
	NotReadyChecks []string `json:"notReadyChecks,omitempty"`
	LogTail        []string `json:"logTail,omitempty"`
}

// newBoot is a boot before anything happened: every time -1 ("did not"), no loopback seen.
func newBoot() *Boot {
	return &Boot{ReadyAfter: -1, ExitedAfter: -1, ExitCode: -1, TermSentAfter: -1, IPv6OffAfter: -1,
		EtcdStalledAfter: -1, EtcdResumedAfter: -1, LoopbackHost: "none"}
}

// Result is one lab run: a binary under a profile, booted once (run) or many times (soak).
type Result struct {
	Binary  string `json:"binary"`
	Version string `json:"version"`
	Profile string `json:"profile"`
	Boots   []Boot `json:"boots"`
	Error   string `json:"error,omitempty"`
}

// Summary condenses a soak.
type Summary struct {
	Boots, Ready, Exited, NotReady int
	SlowestReady, MeanReady        float64 // over the boots that became ready
}

// Summarize counts the boots' outcomes.
func (r *Result) Summarize() Summary {
	s := Summary{Boots: len(r.Boots)}
	var total float64
	for _, b := range r.Boots {
		switch b.Outcome {
		case OutcomeReady:
			s.Ready++
			total += b.ReadyAfter
			if b.ReadyAfter > s.SlowestReady {
				s.SlowestReady = b.ReadyAfter
			}
		case OutcomeExited:
			s.Exited++
		default:
			s.NotReady++
		}
	}
	if s.Ready > 0 {
		s.MeanReady = total / float64(s.Ready)
	}
	return s
}

// WriteJSON prints results for machines.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteRecord prints one run for people.
func WriteRecord(w io.Writer, r *Result) {
	fmt.Fprintf(w, "binary:    %s\nversion:   %s\nprofile:   %s\n", r.Binary, r.Version, r.Profile)
	if r.Error != "" {
		fmt.Fprintf(w, "error:     %s\n", r.Error)
	}
	for i, b := range r.Boots {
		if len(r.Boots) > 1 {
			fmt.Fprintf(w, "boot %d:\n", i+1)
		}
		fmt.Fprintf(w, "outcome:   %s\n", b.Outcome)
		fmt.Fprintf(w, "ready:     %s\n", seconds(b.ReadyAfter))
		if b.Outcome == OutcomeReady {
			fmt.Fprintf(w, "alive:     %.0fs after ready\n", b.AliveAfterReady)
		}
		if b.LoopbackCertNotAfter != "" {
			fmt.Fprintf(w, "loopback:  certificate valid %.0f days, until %s\n", b.LoopbackCertDays, b.LoopbackCertNotAfter)
		}
		if b.EtcdStalledAfter >= 0 {
			fmt.Fprintf(w, "etcd:      frozen at %.1fs, resumed at %s\n", b.EtcdStalledAfter, seconds(b.EtcdResumedAfter))
		}
		if b.TermSentAfter >= 0 {
			fmt.Fprintf(w, "sigterm:   at %.1fs\n", b.TermSentAfter)
		}
		if b.ExitedAfter >= 0 {
			label := "fatal:    "
			if !fatalRE.MatchString(b.FatalLine) {
				label = "last line:"
			}
			fmt.Fprintf(w, "exited:    after %.1fs, code %d\n%s %s\n", b.ExitedAfter, b.ExitCode, label, b.FatalLine)
		}
		if b.IPv6OffAfter >= 0 {
			fmt.Fprintf(w, "ipv6 off:  at %.1fs; loopback then %s; identity lease renewed after: %v\n",
				b.IPv6OffAfter, b.LoopbackHostAfterIPv6Off, b.LeaseRenewedAfterIPv6Off)
		}
		if b.Note != "" {
			fmt.Fprintf(w, "note:      %s\n", b.Note)
		}
		fmt.Fprintf(w, "dns:       %d queries %s\nloopback:  %s\n", b.DNSQueries, names(b.DNSNames), b.LoopbackHost)
		if len(b.NotReadyChecks) > 0 && b.Outcome != OutcomeReady {
			fmt.Fprintf(w, "failing:   %s\n", strings.Join(b.NotReadyChecks, ", "))
		}
	}
}

// WriteSummary prints a soak for people.
func WriteSummary(w io.Writer, r *Result) {
	s := r.Summarize()
	fmt.Fprintf(w, "binary:        %s\nversion:       %s\nprofile:       %s\nboots:         %d\nready:         %d\nexited:        %d\nnot ready:     %d\nmean ready:    %.2fs\nslowest ready: %.2fs\n",
		r.Binary, r.Version, r.Profile, s.Boots, s.Ready, s.Exited, s.NotReady, s.MeanReady, s.SlowestReady)
}

// WriteTable prints one row per result (its first boot), for the matrix.
func WriteTable(w io.Writer, results []*Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BINARY\tVERSION\tPROFILE\tOUTCOME\tREADY\tEXITED\tDNS QUERIES\tLOOPBACK\tFATAL")
	for _, r := range results {
		if len(r.Boots) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\terror\t-\t-\t-\t-\t%s\n", r.Binary, r.Version, r.Profile, r.Error)
			continue
		}
		b := r.Boots[0]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d %s\t%s\t%s\n", r.Binary, r.Version, r.Profile, b.Outcome,
			seconds(b.ReadyAfter), seconds(b.ExitedAfter), b.DNSQueries, names(b.DNSNames), b.LoopbackHost, Short(b.FatalLine, 90))
	}
	tw.Flush()
}

func seconds(s float64) string {
	if s < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", s)
}

func names(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var out []string
	for n, c := range m {
		out = append(out, fmt.Sprintf("%s×%d", n, c))
	}
	sort.Strings(out)
	return "(" + strings.Join(out, " ") + ")"
}

// Short cuts s to n runes (never inside a UTF-8 sequence).
func Short(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// Brief is the first boot in a few words: "ready 2.3 s", or "exits 255 at 31.4 s: <fatal
// message without klog's header, cut to fatalWidth runes>".
func (r *Result) Brief(fatalWidth int) string {
	if len(r.Boots) == 0 {
		if r.Error != "" {
			return "error: " + r.Error
		}
		return "-"
	}
	b := r.Boots[0]
	switch b.Outcome {
	case OutcomeReady:
		return fmt.Sprintf("ready %.1f s", b.ReadyAfter)
	case OutcomeExited:
		s := fmt.Sprintf("exits %d at %.1f s", b.ExitCode, b.ExitedAfter)
		if msg := b.FatalLine; msg != "" {
			if _, after, ok := strings.Cut(msg, "] "); ok {
				msg = after
			}
			s += ": " + Short(msg, fatalWidth)
		}
		return s
	}
	return "not ready by the deadline"
}
