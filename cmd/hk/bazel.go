package main

import (
	"context"
	"path/filepath"

	"github.com/hardened-hyperkube/hk/internal/compile/bazelsetup"
	"github.com/spf13/pflag"
)

func init() {
	register(leaf("bazel-setup", "prepare out/bazel: the offline Go SDK, rules_go, gazelle and shims the WORKSPACE uses", defineBazelSetup))
}

func defineBazelSetup(fs *pflag.FlagSet) runFunc {
	return func(ctx context.Context, e *env, args []string) error {
		return bazelsetup.Run(ctx, bazelsetup.Options{Root: e.root, OutDir: filepath.Join(e.outDir(), "bazel"), Log: e.logf})
	}
}
