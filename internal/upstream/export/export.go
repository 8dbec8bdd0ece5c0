// Package export hands a release's series to people outside hk: as `git format-patch` files
// under the identity of whoever sends them upstream, or as a git repository holding the pinned
// upstream tree with the series as commits on a branch, for release engineers who keep a fork.
package export

import (
	"context"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/source/tree"
)

// Options says what to export and where.
type Options struct {
	Root      string // the hk checkout (patches/, build/versions/)
	Version   string // "v1.37.2"
	Selection string // series.All or patch numbers
	// Author, "Name <mail>", replaces the author of every patch; "" keeps the series' own.
	Author   string
	CacheDir string // out/trees
	Log      tree.Log
}

// Result is what an export wrote.
type Result struct {
	Dir     string   // the patches directory or the repository
	Files   []string // patch files (patches export)
	Branch  string   // branch name (branch export)
	Head    string   // the branch's commit (branch export)
	Commits int
}

// Patches writes the series to dir (which must not exist) as `git format-patch` files.
func Patches(ctx context.Context, o Options, dir string) (*Result, error) {
	if err := mustNotExist(dir); err != nil {
		return nil, err
	}
	t, from, err := prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".hk-export-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	files, err := formatPatches(ctx, t, from, tmp)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	res := &Result{Dir: dir, Commits: len(files)}
	for _, f := range files {
		res.Files = append(res.Files, filepath.Join(dir, filepath.Base(f)))
	}
	return res, nil
}

// Branch makes dir (which must not exist) a git repository holding the pinned upstream tree with
// the series as commits on branch, checked out. The commits are the exported patches applied
// with `git am`, so the branch and the patch files are the same series.
func Branch(ctx context.Context, o Options, dir, branch string) (*Result, error) {
	if err := mustNotExist(dir); err != nil {
		return nil, err
	}
	if _, err := command.New("git", "check-ref-format", "--branch", branch).Run(ctx); err != nil {
		return nil, fmt.Errorf("%q is not a valid branch name", branch)
	}
	t, from, err := prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".hk-export-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	files, err := formatPatches(ctx, t, from, filepath.Join(tmp, "patches"))
	if err != nil {
		return nil, err
	}
	repo := filepath.Join(tmp, "repo")
	upstream := "upstream-" + t.Pins.Kubernetes.Version
	// A local clone hard-links the objects: quick, and independent of out/trees afterwards.
	if _, err := tree.Git(t.Pins, t.Dir, "clone", "--quiet", "--no-checkout", t.Dir, repo).Run(ctx); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"checkout", "--quiet", "-b", branch, upstream},
		append([]string{"am", "--quiet", "--committer-date-is-author-date"}, files...),
		{"remote", "remove", "origin"},
	}
	for _, args := range steps {
		if _, err := tree.Git(t.Pins, repo, args...).Run(ctx); err != nil {
			return nil, err
		}
	}
	// Only the exported branch and the upstream tag stay.
	others, err := tree.Git(t.Pins, repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/").Output(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range strings.Fields(others) {
		if b != branch {
			if _, err := tree.Git(t.Pins, repo, "branch", "--quiet", "-D", b).Run(ctx); err != nil {
				return nil, err
			}
		}
	}
	head, err := tree.Git(t.Pins, repo, "rev-parse", "HEAD").Output(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(repo, dir); err != nil {
		return nil, err
	}
	return &Result{Dir: dir, Branch: branch, Head: head, Commits: len(files)}, nil
}

// prepare checks the author and applies the selection in hk's worktree for it (build.Prepare).
func prepare(ctx context.Context, o Options) (*build.Tree, string, error) {
	from, err := fromLine(o.Author)
	if err != nil {
		return nil, "", err
	}
	t, err := build.Prepare(ctx, build.Options{Root: o.Root, Version: o.Version, Selection: o.Selection,
		CacheDir: o.CacheDir, Log: o.Log})
	if err != nil {
		return nil, "", err
	}
	if len(t.Series.Patches) == 0 {
		return nil, "", fmt.Errorf("no patches selected for %s", o.Version)
	}
	return t, from, nil
}

// formatPatches writes the applied series to dir with `git format-patch`, the first From: header
// of each file set to from when it is not "", and returns the files.
func formatPatches(ctx context.Context, t *build.Tree, from, dir string) ([]string, error) {
	out, err := tree.Git(t.Pins, t.Dir, "format-patch", "--zero-commit", "--no-signature", "--abbrev=8",
		"--filename-max-length=100", "-o", dir, "upstream-"+t.Pins.Kubernetes.Version+"..HEAD").Output(ctx)
	if err != nil {
		return nil, err
	}
	files := strings.Fields(out)
	if from == "" {
		return files, nil
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		loc := fromRE.FindIndex(data)
		if loc == nil {
			return nil, fmt.Errorf("%s has no From: header", filepath.Base(f))
		}
		edited := append(append(append([]byte{}, data[:loc[0]]...), "From: "+from...), data[loc[1]:]...)
		if err := os.WriteFile(f, edited, 0o644); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// fromLine turns "Name <mail>" into a patch's From: value; "" stays "".
func fromLine(author string) (string, error) {
	if author == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(author)
	if err != nil || a.Name == "" {
		return "", fmt.Errorf("--author %q: want \"Name <mail@example.org>\"", author)
	}
	return fmt.Sprintf("%s <%s>", a.Name, a.Address), nil
}

var fromRE = regexp.MustCompile(`(?m)^From: .*$`)

func mustNotExist(dir string) error {
	if dir == "" {
		return fmt.Errorf("no destination given")
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%s already exists; export writes a new directory", dir)
	}
	return nil
}
