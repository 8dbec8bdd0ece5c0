package main

import (
	"context"
	"path/filepath"

	"github.com/hardened-hyperkube/hk/internal/bazelsetup"
)

func init() {
	subcommands["bazel-setup"] = subcommand{"prepare out/bazel: the offline Go SDK, rules_go, gazelle and shims the WORKSPACE uses", runBazelSetup}
}

func runBazelSetup(ctx context.Context, e *env, args []string) error {
	fs := newFlags("bazel-setup", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	return bazelsetup.Run(ctx, bazelsetup.Options{Root: e.root, OutDir: filepath.Join(e.outDir(), "bazel"), Log: e.logf})
}
