package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hardened-hyperkube/hk/internal/source/series"
	"github.com/hardened-hyperkube/hk/internal/upstream/export"
	"github.com/spf13/pflag"
)

func init() {
	register(leaf("export", "write the series as format-patch files, or as a branch of the pinned upstream tree", defineExport))
}

func defineExport(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release")
	patches := fs.String("patches", series.All, "which patches to export")
	author := fs.String("author", "", "author of every patch, \"Name <mail>\" (default: the series' own)")
	to := fs.String("to", "", "a new directory: the patch files, or with --branch the git repository")
	branch := fs.String("branch", "", "make --to a git repository of the upstream tree with the series as commits on this branch")
	return func(ctx context.Context, e *env, args []string) error {
		if *to == "" || len(args) != 0 {
			return usageError{errors.New("--to DIR is required (and takes no arguments)")}
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
}
