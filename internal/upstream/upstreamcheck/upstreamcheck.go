// Package upstreamcheck runs on a patched tree what upstream's CI runs on the packages a series
// touches: gofmt, golangci-lint with the configuration the tree ships, and `go test -race`.
// A check passes with zero findings.
package upstreamcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/progress"
	"github.com/hardened-hyperkube/hk/internal/upstream/upstreamtest"
)

// Tree is a patched tree to check.
type Tree struct {
	Dir  string   // the worktree
	Base string   // the upstream commit the series applies to
	Pkgs []string // import paths the series touches (for go test)
	Dirs []string // the same as "./dir" (for golangci-lint)
}

// Result of one check.
type Result struct {
	Check    string // "gofmt", "typecheck", "golangci-lint", "logcheck", "go test -race"
	Findings []string
	Note     string // what was left out, and why
}

// Options say where the tools live.
type Options struct {
	ToolsDir string // golangci-lint is installed under it (hk: <machine cache>/tools, kept across checkouts)
	// LinkDir, when set, holds a symlink to the tree that golangci-lint runs through, the same
	// path from every checkout (see stablePath).
	LinkDir  string
	Log      func(format string, args ...any)
	Progress *progress.Reporter // counts the test packages' compile; nil: no count
	// Platforms are the GOOS/GOARCH pairs the type check covers; nil: upstream's whole list
	// (test/typecheck's crossPlatforms).
	Platforms []string
}

// Run runs every check and returns their results; the error is non-nil when any check found
// something or could not run.
func Run(ctx context.Context, o Options, t Tree, w io.Writer) ([]Result, error) {
	var results []Result
	var failed []string
	for _, check := range []func(context.Context, Options, Tree, io.Writer) (Result, error){gofmt, typecheck, lint, logcheck, race} {
		r, err := check(ctx, o, t, w)
		if err != nil {
			return results, fmt.Errorf("%s: %w", r.Check, err)
		}
		results = append(results, r)
		if len(r.Findings) > 0 {
			failed = append(failed, fmt.Sprintf("%s: %d findings", r.Check, len(r.Findings)))
		}
	}
	if len(failed) > 0 {
		return results, errors.New(strings.Join(failed, "; "))
	}
	return results, nil
}

// gofmt lists the Go files the series adds or changes that gofmt would rewrite.
func gofmt(ctx context.Context, o Options, t Tree, _ io.Writer) (Result, error) {
	r := Result{Check: "gofmt"}
	out, err := command.New("git", "diff", "--name-only", "--diff-filter=AM", t.Base, "HEAD", "--", "*.go").InDir(t.Dir).Output(ctx)
	if err != nil || out == "" {
		return r, err
	}
	files := strings.Fields(out)
	o.Log("upstream-check: gofmt -l on %d changed files", len(files))
	unformatted, err := command.New("gofmt", append([]string{"-l"}, files...)...).InDir(t.Dir).Output(ctx)
	if err != nil {
		return r, err
	}
	r.Findings = strings.Fields(unformatted)
	return r, nil
}

// typecheck runs upstream's cross-platform type check (test/typecheck, what
// hack/verify-typecheck.sh runs) on the touched packages and their tests: a file behind a build
// tag (config_selfclient_unix.go, _windows.go) must compile everywhere Kubernetes builds.
func typecheck(ctx context.Context, o Options, t Tree, w io.Writer) (Result, error) {
	r := Result{Check: "typecheck"}
	if _, err := os.Stat(filepath.Join(t.Dir, "test", "typecheck", "main.go")); err != nil {
		r.Note = "not run: the tree has no test/typecheck"
		return r, nil
	}
	args := []string{"run", "./test/typecheck", "--serial"}
	if len(o.Platforms) > 0 {
		args = append(args, "--platform="+strings.Join(o.Platforms, ","))
		r.Note = strings.Join(o.Platforms, ", ")
	} else {
		r.Note = "every platform of test/typecheck"
	}
	o.Log("upstream-check: test/typecheck of %d packages (%s)", len(t.Pkgs), r.Note)
	cmd := command.New("go", append(args, t.Pkgs...)...).InDir(t.Dir).
		WithEnv("GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	cmd.Stdout, cmd.Stderr = w, w
	out, err := cmd.Run(ctx)
	var failed *command.Error
	if err != nil && !(errors.As(err, &failed) && failed.ExitCode == 1) {
		return r, err
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "ERROR(") {
			r.Findings = append(r.Findings, l)
		}
	}
	if err != nil && len(r.Findings) == 0 {
		r.Findings = []string{"test/typecheck failed (output above)"}
	}
	return r, nil
}

// race runs upstream's tests of the touched packages with the race detector.
func race(ctx context.Context, o Options, t Tree, w io.Writer) (Result, error) {
	r := Result{Check: "go test -race"}
	o.Log("upstream-check: go test -race of %d packages", len(t.Pkgs))
	if err := upstreamtest.RunRace(ctx, t.Dir, t.Pkgs, w, o.Progress); err != nil {
		var failed *command.Error
		if errors.As(err, &failed) && failed.ExitCode > 0 {
			r.Findings = []string{"tests failed or did not build (output above)"}
			return r, nil
		}
		return r, err
	}
	return r, nil
}
