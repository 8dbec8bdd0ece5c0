package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/hardened-hyperkube/hk/internal/build"
	"github.com/hardened-hyperkube/hk/internal/series"
	"github.com/hardened-hyperkube/hk/internal/tree"
	"github.com/hardened-hyperkube/hk/internal/versions"
)

func init() {
	subcommands["pin"] = subcommand{"write build/versions/<version>.json from the Go module proxy", runPin}
	subcommands["materialize"] = subcommand{"rebuild the pristine upstream tree from pinned modules", runMaterialize}
	subcommands["build"] = subcommand{"build out/<version>[-label]/hyperkube from pins and a patch series", runBuild}
}

func newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("hk "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hk %s %s\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	return nil
}

func runPin(ctx context.Context, e *env, args []string) error {
	fs := newFlags("pin", "VERSION")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	e.logf("resolving k8s.io/kubernetes@%s and its staging modules", fs.Arg(0))
	p, err := versions.Resolve(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	if err := p.Save(e.root); err != nil {
		return err
	}
	fmt.Printf("%s: %d staging modules, etcd %s\n", versions.Path(e.root, p.Kubernetes.Version), len(p.Staging), p.Etcd)
	return nil
}

func runMaterialize(ctx context.Context, e *env, args []string) error {
	fs := newFlags("materialize", "[--version V]")
	version := fs.String("version", "v1.37.2", "Kubernetes release")
	if err := parse(fs, args); err != nil {
		return err
	}
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

func runBuild(ctx context.Context, e *env, args []string) error {
	fs := newFlags("build", "[--version V] [--patches all|none|NNNN[,NNNN]] [--json]")
	version := fs.String("version", "v1.37.2", "Kubernetes release (pins in build/versions)")
	patches := fs.String("patches", series.All, "which patches of patches/<minor>/ to apply: all, none, or numbers like 0002")
	asJSON := fs.Bool("json", false, "print the provenance record as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	res, err := build.Build(ctx, build.Options{
		Root: e.root, Version: *version, Selection: *patches,
		OutDir: e.outDir(), CacheDir: e.cacheDir(), Log: e.logf,
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
