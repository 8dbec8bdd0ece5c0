package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/compile/etcdbuild"
	"github.com/hardened-hyperkube/hk/internal/source/series"
	"github.com/hardened-hyperkube/hk/internal/source/tree"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
	"github.com/hardened-hyperkube/hk/internal/upstream/upstreamcheck"
	"github.com/hardened-hyperkube/hk/internal/upstream/upstreamtest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	pin := leaf("pin VERSION", "write build/versions/<version>.json from the Go module proxy", definePin)
	pin.Args = cobra.ExactArgs(1)
	register(
		pin,
		leaf("materialize", "rebuild the pristine upstream tree from pinned modules", defineMaterialize),
		leaf("build", "build out/<version>[-label]/hyperkube from pins and a patch series", defineBuild),
		leaf("sizes", "build the six components separately and compare their total size with hyperkube's", defineSizes),
		leaf("upstream-test", "run upstream's unit tests of every package the series touches, on the patched tree", defineUpstreamTest),
		leaf("upstream-integration", "upstream's test/integration packages that start kube-apiserver through the patched code, on the unpatched and the patched tree, compared", defineUpstreamIntegration),
		leaf("upstream-check", "gofmt, golangci-lint (the tree's configuration) and go test -race of the touched packages", defineUpstreamCheck),
	)
}

func definePin(fs *pflag.FlagSet) runFunc {
	return func(ctx context.Context, e *env, args []string) error {
		e.logf("resolving k8s.io/kubernetes@%s and its staging modules", args[0])
		p, err := versions.Resolve(ctx, args[0])
		if err != nil {
			return err
		}
		if old, err := versions.Load(e.root, p.Kubernetes.Version); err == nil {
			p.Overlay = old.Overlay // re-pinning keeps the overlay choice
		}
		if _, err := os.Stat(p.OverlayDir(e.root)); err != nil {
			e.logf("note: no hyperkube overlay at %s; set \"overlay\" in the pins to share one", p.OverlayDir(e.root))
		}
		if err := p.Save(e.root); err != nil {
			return err
		}
		fmt.Printf("%s: %d staging modules, etcd %s\n", versions.Path(e.root, p.Kubernetes.Version), len(p.Staging), p.Etcd)
		return nil
	}
}

func defineMaterialize(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release")
	return func(ctx context.Context, e *env, args []string) error {
		p, err := versions.Load(e.root, *version)
		if err != nil {
			return err
		}
		dir, err := tree.Materialize(ctx, p, e.cacheDir(), e.logf)
		if err != nil {
			return err
		}
		fmt.Println(dir)
		return nil
	}
}

func defineBuild(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release (pins in build/versions)")
	arch := fs.String("arch", runtime.GOARCH, "target architecture (linux): "+strings.Join(build.Arches, ", "))
	patches := fs.String("patches", series.All, "which patches of patches/<minor>/ to apply: all, none, no-loopback-fix (all but the loopback client fix), or numbers like 0002")
	target := fs.String("target", build.Hyperkube, "hyperkube, or one component built alone from upstream's ./cmd/<component> (e.g. kube-apiserver: what the lab boots)")
	asJSON := fs.Bool("json", false, "print the provenance record as JSON")
	fips := fs.Bool("fips", false, "build with Go's certified FIPS 140-3 module (GOFIPS140): out/<version>-fips")
	return func(ctx context.Context, e *env, args []string) error {
		res, err := build.Build(ctx, build.Options{
			Root: e.root, Version: *version, Selection: *patches, Arch: *arch, Target: *target, SharedDir: e.sharedBuilds(), FIPS: *fips,
			OutDir: e.outDir(), CacheDir: e.cacheDir(), Log: e.logf, Progress: e.progress,
		})
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(res.Provenance)
		}
		fmt.Printf("%s\n  version %s\n  sha256  %s\n  patches %d\n  took    %s\n", res.Binary, res.Provenance.GitVersion,
			res.Provenance.SHA256, len(res.Provenance.Patches), res.Elapsed.Round(1e9))
		return nil
	}
}

func defineUpstreamTest(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release")
	patches := fs.String("patches", series.All, "which patches to apply before testing")
	list := fs.Bool("list", false, "only print the packages the series touches")
	return func(ctx context.Context, e *env, args []string) error {
		if *list {
			pkgs, err := seriesPackages(e, *version, *patches)
			if err != nil {
				return err
			}
			fmt.Println(strings.Join(pkgs, "\n"))
			return nil
		}
		_, err := upstreamTest(ctx, e, *version, *patches, os.Stdout)
		return err
	}
}

// seriesPackages lists the Go packages a selection of a release's series touches.
func seriesPackages(e *env, version, patches string) ([]string, error) {
	minor, err := versions.Minor(version)
	if err != nil {
		return nil, err
	}
	s, err := series.Select(e.root, minor, patches)
	if err != nil {
		return nil, err
	}
	return upstreamtest.Packages(s)
}

// upstreamTest runs upstream's tests of the touched packages on the patched tree, output to w,
// and returns the packages it ran.
func upstreamTest(ctx context.Context, e *env, version, patches string, w io.Writer) ([]string, error) {
	pkgs, err := seriesPackages(e, version, patches)
	if err != nil {
		return nil, err
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("the selected patches touch no Go package")
	}
	o := build.Options{Root: e.root, Version: version, Selection: patches, OutDir: e.outDir(), CacheDir: e.cacheDir(), Log: e.logf}
	t, err := build.Prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	e.logf("upstream-test %s: go test %d packages in %s", version, len(pkgs), t.Dir)
	return pkgs, upstreamtest.Run(ctx, t.Dir, pkgs, w, e.progress)
}

func defineUpstreamCheck(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release")
	platforms := fs.String("platforms", "", "GOOS/GOARCH pairs to type-check the touched packages for (default: every platform of the tree's test/typecheck)")
	return func(ctx context.Context, e *env, args []string) error {
		var plats []string
		if *platforms != "" {
			plats = strings.Split(*platforms, ",")
		}
		o := build.Options{Root: e.root, Version: *version, Selection: series.All, OutDir: e.outDir(), CacheDir: e.cacheDir(), Log: e.logf}
		t, err := build.Prepare(ctx, o)
		if err != nil {
			return err
		}
		pkgs, err := upstreamtest.Packages(t.Series)
		if err != nil {
			return err
		}
		dirs, err := upstreamtest.Dirs(t.Series)
		if err != nil {
			return err
		}
		base := "upstream-" + t.Pins.Kubernetes.Version
		results, checkErr := upstreamcheck.Run(ctx, upstreamcheck.Options{ToolsDir: filepath.Join(e.machineCacheDir(), "tools"), LinkDir: filepath.Join(e.machineCacheDir(), "lint"), Log: e.logf, Progress: e.progress, Platforms: plats},
			upstreamcheck.Tree{Dir: t.Dir, Base: base, Pkgs: pkgs, Dirs: dirs}, os.Stdout)
		fmt.Printf("\nupstream-check %s (%d packages):\n", *version, len(pkgs))
		for _, r := range results {
			verdict := "clean"
			if len(r.Findings) > 0 {
				verdict = fmt.Sprintf("%d findings", len(r.Findings))
			}
			fmt.Printf("  %-14s %s", r.Check, verdict)
			if r.Note != "" {
				fmt.Printf(" (%s)", r.Note)
			}
			fmt.Println()
			for _, f := range r.Findings {
				fmt.Printf("    %s\n", f)
			}
		}
		return checkErr
	}
}

func defineUpstreamIntegration(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release (its tree must hold the packages)")
	var names []string
	for _, p := range upstreamtest.IntegrationPackages {
		names = append(names, p.Name())
	}
	only := fs.String("packages", strings.Join(names, ","), "which of upstream's test/integration packages to run")
	timeout := fs.Duration("timeout", 40*time.Minute, "each package's test timeout")
	list := fs.Bool("list", false, "only print the packages, the tests of each that run, and why")
	return func(ctx context.Context, e *env, args []string) error {
		if *list {
			for _, p := range upstreamtest.IntegrationPackages {
				fmt.Printf("%s\t%s\n\t%s\n", p.Dir, nonEmptyOr(p.Run, "every test"), p.Why)
			}
			return nil
		}
		var pkgs []upstreamtest.IntegrationPackage
		for _, name := range strings.Split(*only, ",") {
			i := slices.IndexFunc(upstreamtest.IntegrationPackages, func(p upstreamtest.IntegrationPackage) bool { return p.Name() == name })
			if i < 0 {
				return fmt.Errorf("unknown integration package %q (have %s)", name, strings.Join(names, ", "))
			}
			pkgs = append(pkgs, upstreamtest.IntegrationPackages[i])
		}
		pins, err := versions.Load(e.root, *version)
		if err != nil {
			return err
		}
		etcd, err := etcdbuild.Ensure(ctx, e.root, e.outDir(), pins.Etcd, e.logf)
		if err != nil {
			return err
		}
		runs := map[string]map[string]upstreamtest.TestCount{}
		for _, sel := range []string{series.None, series.All} {
			t, err := build.Prepare(ctx, build.Options{Root: e.root, Version: *version, Selection: sel, OutDir: e.outDir(), CacheDir: e.cacheDir(), Log: e.logf})
			if err != nil {
				return err
			}
			runs[sel] = map[string]upstreamtest.TestCount{}
			for _, p := range pkgs {
				c, err := upstreamtest.RunIntegration(ctx, upstreamtest.IntegrationOptions{TreeDir: t.Dir, Etcd: etcd,
					OutDir: filepath.Join(e.outDir(), "upstream-integration", *version, buildName(sel)), Timeout: *timeout, Log: e.logf}, p)
				if err != nil {
					return fmt.Errorf("%s on the %s tree: %w", p.Dir, buildName(sel), err)
				}
				e.logf("upstream-integration: %s on the %s tree: %d pass, %d fail, %d skip in %.0f s", p.Name(), buildName(sel), c.Pass, c.Fail, c.Skip, c.Elapsed)
				runs[sel][p.Name()] = c
			}
		}
		fmt.Printf("\nupstream-integration %s (our etcd %s; each package in its own network namespace):\n", *version, pins.Etcd)
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PACKAGE\tUNPATCHED pass/fail/skip\tTIME\tPATCHED pass/fail/skip\tTIME\tVERDICT")
		var differ []string
		var notes []string
		for _, p := range pkgs {
			c := upstreamtest.Compare(p.Name(), runs[series.None][p.Name()], runs[series.All][p.Name()])
			verdict := "same"
			if len(c.SeriesOnly) > 0 {
				verdict = fmt.Sprintf("same, +%d of the series", len(c.SeriesOnly))
			}
			if !c.Same() {
				verdict = "DIFFERENT"
				differ = append(differ, p.Name())
			}
			u, pt := c.Unpatched, c.Patched
			fmt.Fprintf(tw, "%s\t%d/%d/%d%s\t%.0f s\t%d/%d/%d%s\t%.0f s\t%s\n", p.Name(), u.Pass, u.Fail, u.Skip, pkgFailed(u), u.Elapsed,
				pt.Pass, pt.Fail, pt.Skip, pkgFailed(pt), pt.Elapsed, verdict)
			for _, t := range c.SeriesOnly {
				notes = append(notes, fmt.Sprintf("%s: %s (the series' own): %s", p.Name(), t, pt.Tests[t]))
			}
			for _, t := range c.Regressions {
				notes = append(notes, fmt.Sprintf("%s: %s passes unpatched, not patched (%s)", p.Name(), t, pt.Log))
			}
			for _, t := range c.Failing {
				notes = append(notes, fmt.Sprintf("%s: %s does not pass: unpatched %s, patched %s (%s)", p.Name(), t, u.Tests[t], pt.Tests[t], pt.Log))
			}
		}
		tw.Flush()
		for _, n := range notes {
			fmt.Println("  " + n)
		}
		if len(differ) > 0 {
			return fmt.Errorf("upstream's integration tests differ between the unpatched and the patched tree in %s", strings.Join(differ, ", "))
		}
		return nil
	}
}

func nonEmptyOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func pkgFailed(c upstreamtest.TestCount) string {
	if c.PackageFailed {
		return " (package FAIL)"
	}
	return ""
}

func defineSizes(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release")
	patches := fs.String("patches", series.All, "which patches to apply")
	return func(ctx context.Context, e *env, args []string) error {
		sizes, err := build.CompareSizes(ctx, build.Options{Root: e.root, Version: *version, Selection: *patches,
			OutDir: e.outDir(), CacheDir: e.cacheDir(), Log: e.logf})
		if err != nil {
			return err
		}
		var separate int64
		for _, s := range sizes[:len(sizes)-1] {
			separate += s.Bytes
			fmt.Printf("%-24s %8.1f MB\n", s.Name, float64(s.Bytes)/1e6)
		}
		hk := sizes[len(sizes)-1].Bytes
		fmt.Printf("%-24s %8.1f MB\n%-24s %8.1f MB\n%-24s %8.2fx\n", "six separately", float64(separate)/1e6,
			"hyperkube", float64(hk)/1e6, "hyperkube / separate", float64(hk)/float64(separate))
		return nil
	}
}
