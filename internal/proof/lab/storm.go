package lab

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// storm starts cfg.Apiservers apiservers on one etcd at the same moment, as an HA control plane
// comes back after a power cut, and watches each until it is ready or exits, or the deadline
// passes. Each boot records when its repair controllers retried (from its log).
func storm(ctx context.Context, cfg *sandboxConfig, client *http.Client) ([]Boot, error) {
	if cfg.Apiservers > maxApiservers {
		return nil, fmt.Errorf("at most %d apiservers in a storm, asked for %d", maxApiservers, cfg.Apiservers)
	}
	if cfg.Profile.EtcdStallFor > 0 {
		return nil, fmt.Errorf("profile %s freezes etcd under one apiserver; a storm does not support it", cfg.Profile.Name)
	}
	etcd, err := startEtcd(ctx, cfg, "etcd-storm.log")
	if err != nil {
		return nil, err
	}
	defer etcd.stop(stopGrace) // deferred first, so it runs after the apiservers stopped

	apis := make([]*process, cfg.Apiservers)
	boots := make([]Boot, cfg.Apiservers)
	for i := range apis {
		boots[i] = *newBoot()
		boots[i].Apiserver = i + 1
		if apis[i], err = startApiserver(cfg, i, stormLog(cfg, i)); err != nil {
			for _, a := range apis[:i] {
				a.kill()
			}
			return nil, err
		}
	}
	defer func() {
		for _, a := range apis {
			a.stop(stopGrace)
		}
	}()

	deadline := time.After(cfg.Deadline)
	tick := time.NewTicker(probePeriod)
	defer tick.Stop()
	for pending := len(apis); pending > 0; {
		select {
		case <-ctx.Done():
			pending = 0
		case <-deadline:
			pending = 0
		case <-tick.C:
			pending = 0
			for i, api := range apis {
				b := &boots[i]
				if b.Outcome != "" {
					continue
				}
				if !api.running() {
					b.Outcome, b.ExitedAfter, b.ExitCode = OutcomeExited, api.exitAt.Sub(api.started).Seconds(), api.exitCode()
					b.FatalLine = fatalLine(api.logPath)
					continue
				}
				if ok, failing := probe(ctx, client, cfg.PKI.Token, i); ok {
					b.Outcome, b.ReadyAfter = OutcomeReady, time.Since(api.started).Seconds()
					continue
				} else if len(failing) > 0 {
					b.NotReadyChecks = failing
				}
				pending++
			}
		}
	}
	for i, api := range apis {
		if boots[i].Outcome == "" {
			boots[i].Outcome = OutcomeNotReady
			boots[i].LogTail = tail(api.logPath, 30)
		}
		boots[i].RetriesAfter = retryTimes(api.logPath, api.started)
	}
	return boots, nil
}

func stormLog(cfg *sandboxConfig, i int) string {
	return filepath.Join(cfg.Work, fmt.Sprintf("kube-apiserver-storm-%d.log", i+1))
}

// retryLine is a klog line of a failed first repair: "E1129 20:33:52.954934 ... Initial repair
// failed, will retry".
var retryLine = regexp.MustCompile(`^[EIW](\d{4} \d{2}:\d{2}:\d{2}\.\d{6}) .*Initial repair failed, will retry`)

// retryTimes returns when, after started, the apiserver logged a failed first repair.
func retryTimes(logPath string, started time.Time) []float64 {
	var out []float64
	for _, l := range tail(logPath, 1<<20) {
		m := retryLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		t, err := time.ParseInLocation("0102 15:04:05.000000", m[1], started.Location())
		if err != nil {
			continue
		}
		t = t.AddDate(started.Year(), 0, 0)
		out = append(out, t.Sub(started).Seconds())
	}
	return out
}

// RetrySpread is, for the k-th retry of every apiserver of a storm, the earliest and latest
// time it happened: apiservers that retry in lockstep have a spread near zero.
type RetrySpread struct {
	Retry            int
	Earliest, Latest float64
}

// Spread lists, in order, the spread of each retry that every apiserver of the storm made.
func Spread(bs []Boot) []RetrySpread {
	var out []RetrySpread
	for k := 0; len(bs) > 0; k++ {
		s := RetrySpread{Retry: k + 1, Earliest: -1}
		for _, b := range bs {
			if k >= len(b.RetriesAfter) {
				return out
			}
			t := b.RetriesAfter[k]
			if s.Earliest < 0 || t < s.Earliest {
				s.Earliest = t
			}
			s.Latest = max(s.Latest, t)
		}
		out = append(out, s)
	}
	return out
}

// WriteStorm prints a storm for people: each apiserver's outcome and retries, then the spread.
func WriteStorm(w io.Writer, r *Result) {
	fmt.Fprintf(w, "binary:    %s\nversion:   %s\nprofile:   %s\napiservers: %d on one etcd, started together\n", r.Binary, r.Version, r.Profile, len(r.Boots))
	for _, b := range r.Boots {
		retries := make([]string, len(b.RetriesAfter))
		for i, t := range b.RetriesAfter {
			retries[i] = fmt.Sprintf("%.1f", t)
		}
		fmt.Fprintf(w, "apiserver %d: %s, ready %s, retries at [%s] s\n", b.Apiserver, b.Outcome, seconds(b.ReadyAfter), strings.Join(retries, " "))
	}
	for _, s := range Spread(r.Boots) {
		fmt.Fprintf(w, "retry %d: %.1f–%.1f s (spread %.2f s)\n", s.Retry, s.Earliest, s.Latest, s.Latest-s.Earliest)
	}
}
