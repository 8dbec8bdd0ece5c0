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

	"github.com/hardened-hyperkube/hk/internal/command"
	"github.com/hardened-hyperkube/hk/internal/series"
	"github.com/hardened-hyperkube/hk/internal/tree"
	"github.com/hardened-hyperkube/hk/internal/versions"
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
	t, err := applied(ctx, o)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".hk-export-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out, err := tree.Git(t.pins, t.work, "format-patch", "--zero-commit", "--no-signature", "--abbrev=8",
		"--filename-max-length=100", "-o", tmp, t.base+"..HEAD").Output(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	res := &Result{Dir: dir}
	for _, f := range strings.Fields(out) {
		res.Files = append(res.Files, filepath.Join(dir, filepath.Base(f)))
	}
	res.Commits = len(res.Files)
	return res, nil
}

// Branch makes dir (which must not exist) a git repository holding the pinned upstream tree with
// the series as commits on branch, checked out.
func Branch(ctx context.Context, o Options, dir, branch string) (*Result, error) {
	if err := mustNotExist(dir); err != nil {
		return nil, err
	}
	if _, err := command.New("git", "check-ref-format", "--branch", branch).Run(ctx); err != nil {
		return nil, fmt.Errorf("%q is not a valid branch name", branch)
	}
	t, err := applied(ctx, o)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".hk-export-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	repo := filepath.Join(tmp, "repo")
	// A local clone hard-links the objects: quick, and independent of out/trees afterwards.
	if _, err := tree.Git(t.pins, t.pristine, "clone", "--quiet", "--no-checkout", t.pristine, repo).Run(ctx); err != nil {
		return nil, err
	}
	if _, err := tree.Git(t.pins, repo, "fetch", "--quiet", t.work, "HEAD").Run(ctx); err != nil {
		return nil, err
	}
	// The clone keeps the tag upstream-<version>; the branch hk's cache checks out goes.
	current, err := tree.Git(t.pins, repo, "symbolic-ref", "--short", "HEAD").Output(ctx)
	if err != nil {
		return nil, err
	}
	steps := [][]string{{"checkout", "--quiet", "-b", branch, t.head}, {"remote", "remove", "origin"}}
	if current != branch {
		steps = append(steps, []string{"branch", "--quiet", "-D", current})
	}
	for _, args := range steps {
		if _, err := tree.Git(t.pins, repo, args...).Run(ctx); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(repo, dir); err != nil {
		return nil, err
	}
	return &Result{Dir: dir, Branch: branch, Head: t.head, Commits: len(t.series.Patches)}, nil
}

// appliedTree is the series applied in hk's scratch worktree for exports.
type appliedTree struct {
	pins           *versions.Pins
	series         *series.Series
	pristine, work string
	base, head     string // upstream commit, series head
}

// applied applies the selection, authored as o.Author says, in out/trees/<V>/work-export.
func applied(ctx context.Context, o Options) (*appliedTree, error) {
	pins, err := versions.Load(o.Root, o.Version)
	if err != nil {
		return nil, err
	}
	minor, _ := versions.Minor(o.Version)
	s, err := series.Select(o.Root, minor, o.Selection)
	if err != nil {
		return nil, err
	}
	if len(s.Patches) == 0 {
		return nil, fmt.Errorf("no patches selected for %s", o.Version)
	}
	from, err := fromLine(o.Author)
	if err != nil {
		return nil, err
	}
	pristine, err := tree.Materialize(ctx, pins, o.CacheDir, o.Log)
	if err != nil {
		return nil, err
	}
	if from != "" {
		staged, err := os.MkdirTemp("", "hk-export-patches-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(staged)
		if s, err = withAuthor(s, from, staged); err != nil {
			return nil, err
		}
	}
	work := filepath.Join(o.CacheDir, o.Version, "work-export")
	o.Log("export %s: %d patches into %s", o.Version, len(s.Patches), work)
	head, err := series.Apply(ctx, pins, pristine, work, s)
	if err != nil {
		return nil, err
	}
	base, err := tree.Git(pins, work, "rev-parse", "upstream-"+pins.Kubernetes.Version).Output(ctx)
	if err != nil {
		return nil, err
	}
	return &appliedTree{pins: pins, series: s, pristine: pristine, work: work, base: base, head: head}, nil
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

// withAuthor copies the series' patches into dir with the first From: header replaced.
func withAuthor(s *series.Series, from, dir string) (*series.Series, error) {
	out := &series.Series{Minor: s.Minor}
	for _, p := range s.Patches {
		data, err := os.ReadFile(p.Path)
		if err != nil {
			return nil, err
		}
		loc := fromRE.FindIndex(data)
		if loc == nil {
			return nil, fmt.Errorf("%s has no From: header", p.Name)
		}
		edited := append(append(append([]byte{}, data[:loc[0]]...), "From: "+from...), data[loc[1]:]...)
		path := filepath.Join(dir, p.Name)
		if err := os.WriteFile(path, edited, 0o644); err != nil {
			return nil, err
		}
		p.Path = path
		out.Patches = append(out.Patches, p)
	}
	return out, nil
}

func mustNotExist(dir string) error {
	if dir == "" {
		return fmt.Errorf("no destination given")
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%s already exists; export writes a new directory", dir)
	}
	return nil
}
