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

	"github.com/hardened-hyperkube/hk/internal/build"
	"github.com/hardened-hyperkube/hk/internal/etcdbuild"
	"github.com/hardened-hyperkube/hk/internal/lab"
	"github.com/hardened-hyperkube/hk/internal/series"
	"github.com/hardened-hyperkube/hk/internal/versions"
)

func init() {
	subcommands["backports"] = subcommand{"per release: series applies, upstream tests, unpatched vs patched under its killer profile — one table", runBackports}
}

// backportRow is one release's line of the table.
type backportRow struct {
	Version       string      `json:"version"`
	Series        string      `json:"series"`        // "applies (3 patches)" or why not
	UpstreamTests string      `json:"upstreamTests"` // "6 packages pass" or where the log is
	Killer        string      `json:"killerProfile"`
	Unpatched     *lab.Result `json:"unpatched,omitempty"`
	Patched       *lab.Result `json:"patched,omitempty"`
	// With --sigterm: SIGTERM during the killer profile's outage, upstream and the series
	// without its loopback fix (whose hooks are still retrying then).
	SigtermUnpatched *lab.Result `json:"sigtermUnpatched,omitempty"`
	SigtermRetryOnly *lab.Result `json:"sigtermRetryOnly,omitempty"`
	Error            string      `json:"error,omitempty"`
}

func runBackports(ctx context.Context, e *env, args []string) error {
	fs := newFlags("backports", "[--versions V1,V2] [--sigterm 20s] [--json]")
	list := fs.String("versions", strings.Join(versions.Known(e.root), ","), "releases to report on (default: every pinned release)")
	sigterm := fs.Duration("sigterm", 0, "also send SIGTERM this long after start to upstream and to the series without the loopback fix, under the killer profile, and report their exits (0: skip)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	var rows []backportRow
	failed := false
	for _, v := range strings.Split(*list, ",") {
		row := reportBackport(ctx, e, v, *sigterm)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failed = failed || row.Error != "" || strings.HasPrefix(row.UpstreamTests, "FAIL")
		rows = append(rows, row)
	}
	if *asJSON {
		err := lab.WriteJSON(os.Stdout, rows)
		if err == nil && failed {
			err = fmt.Errorf("some releases failed or could not be reported; see the error and upstreamTests fields")
		}
		return err
	}
	writeBackportTable(os.Stdout, rows)
	if failed {
		return fmt.Errorf("some releases failed or could not be reported; see the table")
	}
	return nil
}

// reportBackport builds both binaries, runs upstream's tests of the series and boots both
// binaries under the release's killer profile. Steps already done (builds, etcd) are reused.
func reportBackport(ctx context.Context, e *env, version string, sigterm time.Duration) backportRow {
	row := backportRow{Version: version}
	fail := func(err error) backportRow { row.Error = err.Error(); return row }
	killer, err := lab.KillerFor(version)
	if err != nil {
		return fail(err)
	}
	row.Killer = killer.Profile
	pins, err := versions.Load(e.root, version)
	if err != nil {
		return fail(err)
	}
	binaries := map[string]string{}
	for _, sel := range []string{series.All, series.None} {
		// The whole hyperkube for the series, which is what this table ships; the control only
		// needs the kube-apiserver the lab boots.
		target := build.Hyperkube
		if sel == series.None {
			target = "kube-apiserver"
		}
		res, err := build.Build(ctx, build.Options{Root: e.root, Version: version, Selection: sel, Target: target, SharedDir: e.sharedBuilds(),
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
	etcd, err := etcdbuild.Ensure(ctx, e.outDir(), pins.Etcd, e.logf)
	if err != nil {
		return fail(err)
	}
	profile, err := lab.LookupProfile(killer.Profile)
	if err != nil {
		return fail(err)
	}
	for _, sel := range []string{series.None, series.All} {
		res, err := lab.Run(ctx, lab.Options{Binary: binaries[sel], Etcd: etcd, Profile: profile,
			Deadline: 150 * time.Second, Hold: 5 * time.Second, Log: e.logf})
		if err != nil && res == nil {
			return fail(err)
		}
		if sel == series.None {
			row.Unpatched = res
		} else {
			row.Patched = res
		}
	}
	if sigterm <= 0 {
		return row
	}
	res, err := build.Build(ctx, build.Options{Root: e.root, Version: version, Selection: series.NoLoopbackFix, Target: "kube-apiserver", SharedDir: e.sharedBuilds(),
		OutDir: e.outDir(), CacheDir: e.cacheDir(), Log: e.logf})
	if err != nil {
		return fail(err)
	}
	binaries[series.NoLoopbackFix] = res.Binary
	for _, sel := range []string{series.None, series.NoLoopbackFix} {
		res, err := lab.Run(ctx, lab.Options{Binary: binaries[sel], Etcd: etcd, Profile: profile,
			Deadline: 150 * time.Second, TermAfter: sigterm, Log: e.logf})
		if err != nil && res == nil {
			return fail(err)
		}
		if sel == series.None {
			row.SigtermUnpatched = res
		} else {
			row.SigtermRetryOnly = res
		}
	}
	return row
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

func writeBackportTable(w io.Writer, rows []backportRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	sigterm := false
	for _, r := range rows {
		sigterm = sigterm || r.SigtermUnpatched != nil
	}
	header := "RELEASE\tSERIES\tUPSTREAM TESTS\tPROFILE\tUNPATCHED\tPATCHED\tDNS QUERIES (patched)"
	if sigterm {
		header += "\tSIGTERM: UPSTREAM\tSIGTERM: NO LOOPBACK FIX"
	}
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		if r.Error != "" && r.Patched == nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\terror: %s\t\t\n", r.Version, dash(r.Series), dash(r.UpstreamTests), dash(r.Killer), r.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s", r.Version, r.Series, r.UpstreamTests, r.Killer,
			brief(r.Unpatched), brief(r.Patched), dnsQueries(r.Patched))
		if sigterm {
			fmt.Fprintf(tw, "\t%s\t%s", termExit(r.SigtermUnpatched), termExit(r.SigtermRetryOnly))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
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

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// termExit condenses a boot that was sent SIGTERM: "exit 0 at 50.9s" or the exit code and
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
		return fmt.Sprintf("SIGTERM at %.0fs, still running", b.TermSentAfter)
	case b.ExitCode == 0:
		return fmt.Sprintf("exit 0 at %.1fs", b.ExitedAfter)
	}
	fatal := b.FatalLine
	if i := strings.Index(fatal, "] "); i >= 0 {
		fatal = fatal[i+2:]
	}
	if len(fatal) > 50 {
		fatal = fatal[:50] + "…"
	}
	return fmt.Sprintf("exit %d at %.1fs: %s", b.ExitCode, b.ExitedAfter, fatal)
}
