// Package upstreamcheck runs on a patched tree what upstream's CI runs on the packages a series
// touches: gofmt, golangci-lint with the configuration the tree ships, and `go test -race`.
// A check passes with zero findings.
package upstreamcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/command"
	"github.com/hardened-hyperkube/hk/internal/progress"
	"github.com/hardened-hyperkube/hk/internal/upstreamtest"
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
	Check    string // "gofmt", "golangci-lint", "go test -race"
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
}

// Run runs every check and returns their results; the error is non-nil when any check found
// something or could not run.
func Run(ctx context.Context, o Options, t Tree, w io.Writer) ([]Result, error) {
	var results []Result
	var failed []string
	for _, check := range []func(context.Context, Options, Tree, io.Writer) (Result, error){gofmt, lint, race} {
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
