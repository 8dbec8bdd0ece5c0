package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/compile/etcdbuild"
	"github.com/hardened-hyperkube/hk/internal/proof/lab"
	"github.com/hardened-hyperkube/hk/internal/source/series"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
	"github.com/spf13/pflag"
)

func init() {
	register(leaf("backports", "per release: series applies, upstream tests, upstream vs the series under each outage, SIGTERM during it — one table", defineBackports))
}

// gridProfiles are the outages every release is booted under: DNS (the field hazard, slow enough
// that every unpatched release dies), an etcd stall longer than upstream's one-minute bound, and
// a host without IPv6 sockets.
var gridProfiles = []string{"field-slow", "etcd-stall", "ipv6-absent"}

// gridBuilds are what each profile boots: upstream as is, and the whole series. Under field-slow
// the series without its loopback fix is also sent SIGTERM: it is the build whose hooks are still
// retrying at the signal (the whole series is ready by then).
var gridBuilds = []string{series.None, series.All}

// backportRow is one release: whether its series applies, upstream's tests, and its grid.
type backportRow struct {
	Version       string         `json:"version"`
	Series        string         `json:"series"`        // "applies (9 patches)" or why not
	UpstreamTests string         `json:"upstreamTests"` // "6 packages pass" or where the log is
	Cells         []backportCell `json:"cells,omitempty"`
	Error         string         `json:"error,omitempty"`
}

// backportCell is one build booted under one profile: once to its outcome, once sent SIGTERM.
type backportCell struct {
	Profile string      `json:"profile"`
	Build   string      `json:"build"` // a series selection: none, all, no-loopback-fix
	Boot    *lab.Result `json:"boot,omitempty"`
	Sigterm *lab.Result `json:"sigterm,omitempty"`
}

func defineBackports(fs *pflag.FlagSet) runFunc {
	list := fs.String("versions", "", "releases to report on, comma-separated (default: every pinned release)")
	profileList := fs.String("profiles", strings.Join(gridProfiles, ","), "lab profiles to boot every build under")
	sigterm := fs.Duration("sigterm", 20*time.Second, "also boot each build again and send it SIGTERM this long after its start (0: skip)")
	asJSON := fs.Bool("json", false, "print JSON (every boot's record, log tails included)")
	return func(ctx context.Context, e *env, args []string) error {
		var profiles []lab.Profile
		for _, name := range strings.Split(*profileList, ",") {
			p, err := lab.LookupProfile(name)
			if err != nil {
				return err
			}
			profiles = append(profiles, p)
		}
		releases := versions.Known(e.root)
		if *list != "" {
			releases = strings.Split(*list, ",")
		}
		var rows []backportRow
		failed := false
		for _, v := range releases {
			row := reportBackport(ctx, e, v, profiles, *sigterm)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed = failed || row.Error != "" || strings.HasPrefix(row.UpstreamTests, "FAIL") || len(gridFailures(row)) > 0
			rows = append(rows, row)
		}
		if *asJSON {
			err := lab.WriteJSON(os.Stdout, rows)
			if err == nil && failed {
				err = fmt.Errorf("some releases failed or could not be reported; see the error, upstreamTests and cells fields")
			}
			return err
		}
		writeBackportTable(os.Stdout, rows)
		if failed {
			return fmt.Errorf("some releases failed or could not be reported; see the table")
		}
		return nil
	}
}

// reportBackport builds what the lab boots (each selection's kube-apiserver, shared with make
// test's builds), runs upstream's tests of the series and boots the grid.
func reportBackport(ctx context.Context, e *env, version string, profiles []lab.Profile, sigterm time.Duration) backportRow {
	row := backportRow{Version: version}
	fail := func(err error) backportRow { row.Error = err.Error(); return row }
	pins, err := versions.Load(e.root, version)
	if err != nil {
		return fail(err)
	}
	binaries := map[string]string{}
	for _, sel := range []string{series.All, series.None, series.NoLoopbackFix} {
		res, err := build.Build(ctx, build.Options{Root: e.root, Version: version, Selection: sel, Target: "kube-apiserver", SharedDir: e.sharedBuilds(),
			OutDir: e.outDir(), CacheDir: e.cacheDir(), Log: e.logf})
		if err != nil {
			if sel == series.All {
				row.Series = "does not apply: " + err.Error()
			}
			return fail(err)
		}
		binaries[sel] = res.Binary
		if sel == series.All {
			row.Series = fmt.Sprintf("applies (%d patches)", len(res.Provenance.Patches))
		}
	}
	logPath := filepath.Join(e.outDir(), "backports", version+"-upstream-test.log")
	if pkgs, err := upstreamTestToLog(ctx, e, version, logPath); err != nil {
		row.UpstreamTests = "FAIL, see " + logPath
	} else {
		row.UpstreamTests = fmt.Sprintf("%d packages pass", len(pkgs))
	}
	etcd, err := etcdbuild.Ensure(ctx, e.root, e.outDir(), pins.Etcd, e.logf)
	if err != nil {
		return fail(err)
	}
	boot := func(sel string, p lab.Profile, termAfter time.Duration) (*lab.Result, error) {
		res, err := lab.Run(ctx, lab.Options{Binary: binaries[sel], Etcd: etcd, Profile: p,
			Deadline: 150 * time.Second, Hold: 5 * time.Second, TermAfter: termAfter, Log: e.logf})
		if err != nil && res == nil {
			return nil, err
		}
		return res, nil
	}
	for _, p := range profiles {
		builds := gridBuilds
		if p.Name == "field-slow" && sigterm > 0 {
			builds = append(builds[:len(builds):len(builds)], series.NoLoopbackFix)
		}
		for _, sel := range builds {
			cell := backportCell{Profile: p.Name, Build: sel}
			if sel != series.NoLoopbackFix {
				if cell.Boot, err = boot(sel, p, 0); err != nil {
					return fail(err)
				}
			}
			if sigterm > 0 {
				if cell.Sigterm, err = boot(sel, p, sigterm); err != nil {
					return fail(err)
				}
			}
			row.Cells = append(row.Cells, cell)
		}
	}
	return row
}

// gridFailures lists what the series must never do: fail to become ready under an outage it
// survives by design, or not exit 0 within kubeadm's 30 s grace period after SIGTERM.
func gridFailures(r backportRow) []string {
	var out []string
	for _, c := range r.Cells {
		if c.Build == series.None {
			continue
		}
		if c.Boot != nil && (len(c.Boot.Boots) == 0 || c.Boot.Boots[0].Outcome != lab.OutcomeReady) {
			out = append(out, fmt.Sprintf("%s %s %s: %s", r.Version, c.Profile, buildName(c.Build), c.Boot.Brief(70)))
		}
		if c.Sigterm != nil {
			if after, ok := exitedAfterSignal(c.Sigterm); !ok || after > 30 {
				out = append(out, fmt.Sprintf("%s %s %s: SIGTERM: %s", r.Version, c.Profile, buildName(c.Build), termExit(c.Sigterm)))
			}
		}
	}
	return out
}

// exitedAfterSignal is the seconds from SIGTERM to a clean exit; ok is false for any other end.
func exitedAfterSignal(r *lab.Result) (float64, bool) {
	if r == nil || len(r.Boots) == 0 {
		return 0, false
	}
	b := r.Boots[0]
	if b.TermSentAfter < 0 || b.ExitedAfter < 0 || b.ExitCode != 0 {
		return 0, false
	}
	return b.ExitedAfter - b.TermSentAfter, true
}

func upstreamTestToLog(ctx context.Context, e *env, version, logPath string) ([]string, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return upstreamTest(ctx, e, version, series.All, f)
}

func buildName(sel string) string {
	switch sel {
	case series.None:
		return "upstream"
	case series.All:
		return "series"
	case series.NoLoopbackFix:
		return "series w/o loopback fix"
	}
	return sel
}

// writeBackportTable prints one line per release and cell, then the failures the series must
// not have, then the log excerpt of every boot that exited on its own (the lines before the
// fatal one are what a reviewer reads to see why).
func writeBackportTable(w io.Writer, rows []backportRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RELEASE\tSERIES\tUPSTREAM TESTS\tPROFILE\tBUILD\tOUTCOME\tDNS QUERIES\tSIGTERM (s after the signal)")
	for _, r := range rows {
		if r.Error != "" && len(r.Cells) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\terror: %s\t\t\t\t\n", r.Version, dash(r.Series), dash(r.UpstreamTests), r.Error)
			continue
		}
		for i, c := range r.Cells {
			version, ser, tests := r.Version, r.Series, r.UpstreamTests
			if i > 0 {
				version, ser, tests = "", "", ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", version, ser, tests, c.Profile, buildName(c.Build),
				brief(c.Boot), dnsQueries(c.Boot), termExit(c.Sigterm))
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "\t\t\terror: %s\t\t\t\t\n", r.Error)
		}
	}
	tw.Flush()
	for _, r := range rows {
		for _, f := range gridFailures(r) {
			fmt.Fprintf(w, "FAIL %s\n", f)
		}
	}
	for _, r := range rows {
		for _, c := range r.Cells {
			for _, res := range []*lab.Result{c.Boot, c.Sigterm} {
				if ex := fatalExcerpt(res, 4); len(ex) > 0 {
					fmt.Fprintf(w, "\n%s %s %s%s:\n", r.Version, c.Profile, buildName(c.Build), map[bool]string{true: " (SIGTERM)"}[res == c.Sigterm])
					for _, l := range ex {
						fmt.Fprintf(w, "  %s\n", l)
					}
				}
			}
		}
	}
}

// fatalExcerpt is the fatal line of a boot that exited non-zero and up to n log lines before it.
func fatalExcerpt(r *lab.Result, n int) []string {
	if r == nil || len(r.Boots) == 0 {
		return nil
	}
	b := r.Boots[0]
	if b.ExitedAfter < 0 || b.ExitCode == 0 || b.FatalLine == "" {
		return nil
	}
	for i, l := range b.LogTail {
		if l == b.FatalLine {
			return b.LogTail[max(0, i-n) : i+1]
		}
	}
	return []string{b.FatalLine}
}

func brief(r *lab.Result) string {
	if r == nil {
		return "-"
	}
	return r.Brief(70)
}

func dnsQueries(r *lab.Result) string {
	if r == nil || len(r.Boots) == 0 {
		return "-"
	}
	return fmt.Sprint(r.Boots[0].DNSQueries)
}

func dash(s string) string { return nonEmptyOr(s, "-") }

// termExit condenses a boot that was sent SIGTERM: "exit 0, 10.1 s after" or the exit code and
// what the fatal line says.
func termExit(r *lab.Result) string {
	if r == nil || len(r.Boots) == 0 {
		return "-"
	}
	b := r.Boots[0]
	switch {
	case b.TermSentAfter < 0:
		return "not sent: " + b.Outcome
	case b.ExitedAfter < 0:
		return fmt.Sprintf("sent at %.0f s, still running", b.TermSentAfter)
	case b.ExitCode == 0:
		return fmt.Sprintf("exit 0, %.1f s after", b.ExitedAfter-b.TermSentAfter)
	}
	fatal := b.FatalLine
	if i := strings.Index(fatal, "] "); i >= 0 {
		fatal = fatal[i+2:]
	}
	if len(fatal) > 50 {
		fatal = fatal[:50] + "…"
	}
	return fmt.Sprintf("exit %d, %.1f s after: %s", b.ExitCode, b.ExitedAfter-b.TermSentAfter, fatal)
}
