// Package upstreamtest runs upstream's own unit tests of every package a patch series touches, on
// the patched tree.
package upstreamtest

import (
	"bufio"
	"context"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/progress"
	"github.com/hardened-hyperkube/hk/internal/source/series"
)

// Packages returns the Go import paths of the directories holding .go files the series changes,
// for `go test`: staging/src/k8s.io/X/... maps to k8s.io/X/..., everything else to
// k8s.io/kubernetes/.... Packages under test/integration/ are left out: they need etcd and run
// with RunIntegration.
func Packages(s *series.Series) ([]string, error) {
	return touched(s, func(dir string) string {
		if strings.HasPrefix(dir, integrationDir) {
			return ""
		}
		return importPath(dir)
	})
}

// Dirs returns every touched package as a tree-relative directory ("./pkg/..."), for the
// linters: test/integration/ packages included.
func Dirs(s *series.Series) ([]string, error) {
	return touched(s, func(dir string) string { return "./" + dir })
}

const integrationDir = "test/integration/"

// touched returns name(dir) for every directory holding .go files the series changes, sorted;
// a name of "" leaves the directory out.
func touched(s *series.Series, name func(dir string) string) ([]string, error) {
	set := map[string]bool{}
	for _, p := range s.Patches {
		files, err := changedFiles(p.Path)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if n := name(path.Dir(f)); strings.HasSuffix(f, ".go") && n != "" {
				set[n] = true
			}
		}
	}
	var out []string
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func importPath(dir string) string {
	if rest, ok := strings.CutPrefix(dir, "staging/src/"); ok {
		return rest
	}
	return "k8s.io/kubernetes/" + dir
}

func changedFiles(patchPath string) ([]string, error) {
	f, err := os.Open(patchPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var files []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "+++ b/"); ok {
			files = append(files, rest)
		}
	}
	return files, sc.Err()
}

// Run runs `go test` for pkgs in the tree at dir, streaming output to w. With a reporter, the
// packages' compile is counted first (see compile).
func Run(ctx context.Context, dir string, pkgs []string, w io.Writer, rep *progress.Reporter) error {
	return run(ctx, dir, pkgs, w, rep)
}

// RunRace runs `go test -race` for pkgs in the tree at dir, streaming output to w.
func RunRace(ctx context.Context, dir string, pkgs []string, w io.Writer, rep *progress.Reporter) error {
	return run(ctx, dir, pkgs, w, rep, "-race")
}

func run(ctx context.Context, dir string, pkgs []string, w io.Writer, rep *progress.Reporter, flags ...string) error {
	// -trimpath and CGO_ENABLED=0, as hk build compiles: every dependency the tests share with
	// the release's build comes from the build cache (cgo or a path in a key changes every key).
	buildFlags := append([]string{"-trimpath"}, flags...)
	env := []string{"GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0"}
	if len(flags) > 0 {
		env[len(env)-1] = "CGO_ENABLED=1" // the race detector needs cgo
	}
	if rep != nil {
		// The packages and their dependencies first, counted; go test then finds them in the
		// build cache and compiles only the tests. A compile error is left for go test to report.
		_ = build.Compile(ctx, dir, env, buildFlags, nil, pkgs, rep,
			"go test "+strings.Join(buildFlags, " ")+" "+strings.Join(pkgs, " "), "upstream tests")
	}
	args := append(append([]string{"test", "-count=1"}, buildFlags...), pkgs...)
	cmd := command.New("go", args...).InDir(dir).WithEnv(env...)
	cmd.Stdout, cmd.Stderr = w, w
	_, err := cmd.Run(ctx)
	return err
}
