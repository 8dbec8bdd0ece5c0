package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/proof/lab"
	"github.com/hardened-hyperkube/hk/internal/source/series"
	"github.com/hardened-hyperkube/hk/internal/source/vuln"
	"github.com/spf13/pflag"
)

func init() {
	register(group("vuln", "known vulnerabilities from the pinned Go vulnerability database, offline (govulncheck)",
		leaf("scan", "scan a release's patched tree (source mode: what the hyperkube calls) or a binary (binary mode)", defineVulnScan)))
}

func defineVulnScan(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release: scan its patched tree's cmd/hyperkube from source")
	patches := fs.String("patches", series.All, "which patches to apply before scanning")
	binary := fs.String("binary", "", "scan this Go binary instead (binary mode)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) != 0 {
			return usageError{errors.New("takes no arguments")}
		}
		tools, err := vulnTools(ctx, e)
		if err != nil {
			return err
		}
		var r *vuln.Report
		if *binary != "" {
			if _, err := os.Stat(*binary); err != nil {
				return fmt.Errorf("--binary: %w", err)
			}
			e.logf("vuln: govulncheck -mode binary %s", *binary)
			r, err = tools.ScanBinary(ctx, *binary)
		} else {
			var t *build.Tree
			t, err = build.PrepareHyperkube(ctx, build.Options{Root: e.root, Version: *version, Selection: *patches,
				OutDir: e.outDir(), CacheDir: e.cacheDir(), Log: e.logf})
			if err != nil {
				return err
			}
			inputs, ierr := vuln.ProgramInputs(t.Dir, t.Commit, filepath.Join("cmd", "hyperkube"))
			if ierr != nil {
				return ierr
			}
			e.logf("vuln: govulncheck ./cmd/hyperkube in %s (source mode: loads and type-checks the whole program, ≈ 4 CPU min and 12 GB; remembered after)", t.Dir)
			r, _, err = tools.ScanSourceCached(ctx, t.Dir, build.GoEnv, inputs, "./cmd/hyperkube")
		}
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		}
		printVulnReport(r)
		return nil
	}
}

// vulnTools prepares the pinned scanner and database in the machine cache.
func vulnTools(ctx context.Context, e *env) (*vuln.Tools, error) {
	p, err := vuln.LoadPins(e.root)
	if err != nil {
		return nil, err
	}
	t, err := vuln.Prepare(ctx, p, filepath.Join(e.machineCacheDir(), "vuln"))
	if err != nil {
		return nil, err
	}
	e.logf("vuln: database %s (%d entries, dated %s), scanner %s", p.Database.Version, t.Entries, t.Date.Format("2006-01-02"), p.Scanner.Path+"@"+p.Scanner.Version)
	return t, nil
}

func printVulnReport(r *vuln.Report) {
	c := r.Counts()
	fmt.Printf("%s (%s mode), database dated %s: %d called, %d imported only, %d module only\n",
		r.Target, r.Mode, r.DatabaseDate.Format("2006-01-02"), c[vuln.Called], c[vuln.Imported], c[vuln.Required])
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tLEVEL\tMODULE\tFOUND\tFIXED\tSUMMARY")
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.Level, f.Module, f.Version, nonEmptyOr(f.Fixed, "-"), lab.Short(f.Summary, 70))
	}
	w.Flush()
}
