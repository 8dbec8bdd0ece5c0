package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hardened-hyperkube/hk/internal/export"
	"github.com/hardened-hyperkube/hk/internal/series"
)

func init() {
	subcommands["export"] = subcommand{"write the series as format-patch files, or as a branch of the pinned upstream tree", runExport}
}

func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags("export", "--version V [--author \"Name <mail>\"] [--patches all|NNNN,...] --to DIR [--branch NAME]")
	version := fs.String("version", "v1.37.2", "Kubernetes release")
	patches := fs.String("patches", series.All, "which patches to export")
	author := fs.String("author", "", "author of every patch, \"Name <mail>\" (default: the series' own)")
	to := fs.String("to", "", "a new directory: the patch files, or with --branch the git repository")
	branch := fs.String("branch", "", "make --to a git repository of the upstream tree with the series as commits on this branch")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *to == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "hk export: --to DIR is required (and takes no arguments)")
		fs.Usage()
		return errUsage
	}
	o := export.Options{Root: e.root, Version: *version, Selection: *patches, Author: *author, CacheDir: e.cacheDir(), Log: e.logf}
	if *branch != "" {
		res, err := export.Branch(ctx, o, *to, *branch)
		if err != nil {
			return err
		}
		fmt.Printf("%s: branch %s at %s, %d commits on upstream-%s\n", res.Dir, res.Branch, res.Head, res.Commits, *version)
		return nil
	}
	res, err := export.Patches(ctx, o, *to)
	if err != nil {
		return err
	}
	for _, f := range res.Files {
		fmt.Println(f)
	}
	return nil
}
