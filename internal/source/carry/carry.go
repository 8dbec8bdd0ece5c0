// Package carry moves a release line's series from one upstream patch release to the next: both
// pristine trees in one repository, each patch 3-way merged onto the new tree (`git am -3`), a
// patch upstream has merged dropped, a conflict no merge resolves stopped at with the patch, file
// and hunk named and the half-applied worktree left for a human; and `git range-diff` of the old
// series against the new.
package carry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/source/modcache"
	"github.com/hardened-hyperkube/hk/internal/source/series"
	"github.com/hardened-hyperkube/hk/internal/source/tree"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// How a patch came onto the new tree.
const (
	Applied = "applied"         // as it was
	Merged  = "merged (3-way)"  // its context moved; git's 3-way merge resolved it
	Dropped = "dropped"         // upstream has it: it reverse-applies on the new tree
	ByHand  = "carried by hand" // after a conflict, a human finished `git am` (Resume)
)

// Outcome is what happened to one patch.
type Outcome struct {
	Patch series.Patch
	How   string
}

// Options names the two releases and their pristine repositories.
type Options struct {
	Old, New                 *versions.Pins
	OldPristine, NewPristine string
	Series                   *series.Series // the line's series as it applies to Old
	// WorkDir holds the worktrees: <WorkDir>/carried (the new series) and <WorkDir>/previous
	// (the old series on the old tree, for the range-diff).
	WorkDir string
}

// Result is the carried series.
type Result struct {
	Outcomes  []Outcome
	Worktree  string // the new series applied on New, HEAD = Head
	Head      string
	OldHead   string
	RangeDiff string // `git range-diff` of the old series against the new
}

// Kept returns the outcomes of the patches still in the series.
func (r *Result) Kept() []Outcome {
	var kept []Outcome
	for _, o := range r.Outcomes {
		if o.How != Dropped {
			kept = append(kept, o)
		}
	}
	return kept
}

// ConflictError is a patch no 3-way merge puts on the new tree. Worktree is left mid-`git am`.
type ConflictError struct {
	Patch    string
	Where    string // "path: hunk #N (@@ … @@) does not match the tree"
	Worktree string
	Version  string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("patch %s conflicts with %s: %s; resolve it in %s", e.Patch, e.Version, e.Where, e.Worktree)
}

// Carry applies o.Series to o.New (see the package comment).
func Carry(ctx context.Context, o Options) (*Result, error) {
	newBase, oldBase := "upstream-"+o.New.Kubernetes.Version, "upstream-"+o.Old.Kubernetes.Version
	// The old tree's objects in the new repository: `git am -3` finds the patches' preimage
	// blobs there, and range-diff both series.
	if _, err := tree.Git(o.New, o.NewPristine, "fetch", "--quiet", "--no-tags", o.OldPristine,
		"+refs/tags/"+oldBase+":refs/tags/"+oldBase).Run(ctx); err != nil {
		return nil, err
	}
	previous := filepath.Join(o.WorkDir, "previous")
	oldHead, err := series.Apply(ctx, o.Old, o.NewPristine, previous, o.Series)
	if err != nil {
		return nil, fmt.Errorf("the series no longer applies to %s, the release it was made for: %w", o.Old.Kubernetes.Version, err)
	}
	work := filepath.Join(o.WorkDir, "carried")
	if err := freshWorktree(ctx, o.New, o.NewPristine, work, newBase); err != nil {
		return nil, err
	}
	r := &Result{Worktree: work, OldHead: oldHead}
	for _, p := range o.Series.Patches {
		how, err := carryOne(ctx, o.New, work, p)
		if err != nil {
			return nil, err
		}
		r.Outcomes = append(r.Outcomes, Outcome{Patch: p, How: how})
	}
	return r, r.finish(ctx, o)
}

// finish records HEAD and the range-diff of the old series against the new.
func (r *Result) finish(ctx context.Context, o Options) error {
	var err error
	if r.Head, err = tree.Git(o.New, r.Worktree, "rev-parse", "HEAD").Output(ctx); err != nil {
		return err
	}
	// Read whole: Output trims, and range-diff aligns its first column with leading spaces.
	var out bytes.Buffer
	c := tree.Git(o.New, r.Worktree, "range-diff", "--no-color",
		"upstream-"+o.Old.Kubernetes.Version+".."+r.OldHead, "upstream-"+o.New.Kubernetes.Version+"..HEAD")
	c.Stdout = &out
	if _, err := c.Output(ctx); err != nil {
		return err
	}
	r.RangeDiff = strings.TrimRight(out.String(), "\n")
	return nil
}

// Resume takes up a carry a conflict stopped, once a human has finished `git am` in its worktree:
// each patch of the old series whose subject is a commit there was carried by hand, the others
// were dropped.
func Resume(ctx context.Context, o Options) (*Result, error) {
	work := filepath.Join(o.WorkDir, "carried")
	previous := filepath.Join(o.WorkDir, "previous")
	oldHead, err := tree.Git(o.Old, previous, "rev-parse", "HEAD").Output(ctx)
	if err != nil {
		return nil, fmt.Errorf("nothing to continue: no carry of %s was stopped (%s): %w", o.New.Kubernetes.Version, previous, err)
	}
	amDir, err := tree.Git(o.New, work, "rev-parse", "--path-format=absolute", "--git-path", "rebase-apply").Output(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(amDir); err == nil {
		return nil, fmt.Errorf("git am is still in progress in %s: finish it (git am --continue, and the patches after it) first", work)
	}
	subjects, err := tree.Git(o.New, work, "log", "--reverse", "--format=%s", "upstream-"+o.New.Kubernetes.Version+"..HEAD").Output(ctx)
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	commits := 0
	for _, s := range strings.Split(subjects, "\n") {
		if s != "" {
			done[s] = true
			commits++
		}
	}
	r := &Result{Worktree: work, OldHead: oldHead}
	for _, p := range o.Series.Patches {
		subject, err := Subject(p.Path)
		if err != nil {
			return nil, err
		}
		how := Dropped
		if done[subject] {
			how = ByHand
		}
		r.Outcomes = append(r.Outcomes, Outcome{Patch: p, How: how})
	}
	if len(r.Kept()) != commits {
		return nil, fmt.Errorf("the commits in %s are not the series' patches by subject: finish with the series' own commits", work)
	}
	return r, r.finish(ctx, o)
}

var subjectRE = regexp.MustCompile(`(?m)^Subject: (?:\[PATCH[^\]]*\] )?(.*(?:\n[ \t].*)*)`)

// Subject returns the commit subject of a format-patch file, unfolded.
func Subject(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	m := subjectRE.FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("%s has no Subject: header", filepath.Base(path))
	}
	return strings.Join(strings.Fields(string(m[1])), " "), nil
}

// carryOne puts patch p on the worktree, or says why not.
func carryOne(ctx context.Context, p *versions.Pins, work string, patch series.Patch) (string, error) {
	if _, err := tree.Git(p, work, "apply", "--check", "--reverse", patch.Path).Run(ctx); err == nil {
		return Dropped, nil
	}
	how := Applied
	if _, err := tree.Git(p, work, "apply", "--check", patch.Path).Run(ctx); err != nil {
		how = Merged
	}
	if _, err := tree.Git(p, work, "am", "--quiet", "-3", "--committer-date-is-author-date", patch.Path).Run(ctx); err != nil {
		return "", &ConflictError{Patch: patch.Name, Where: where(ctx, p, work, patch), Worktree: work, Version: p.Kubernetes.Version}
	}
	return how, nil
}

// where names the file and hunk of a patch that did not apply: the hunk plain `git apply` rejects
// in the first file the 3-way merge left conflicted.
func where(ctx context.Context, p *versions.Pins, work string, patch series.Patch) string {
	conflicted, _ := tree.Git(p, work, "diff", "--name-only", "--diff-filter=U").Output(ctx)
	return series.ExplainFailure(ctx, p, work, patch, strings.Fields(conflicted))
}

// freshWorktree makes dir a worktree of repo at ref, discarding what an earlier run left there.
func freshWorktree(ctx context.Context, p *versions.Pins, repo, dir, ref string) error {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		_, _ = tree.Git(p, dir, "am", "--abort").Run(ctx)
		for _, args := range [][]string{{"checkout", "--quiet", "--force", "--detach", ref}, {"clean", "-ffdxq"}} {
			if _, err := tree.Git(p, dir, args...).Run(ctx); err != nil {
				return err
			}
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_ = os.RemoveAll(dir)
	if _, err := tree.Git(p, repo, "worktree", "prune").Run(ctx); err != nil {
		return err
	}
	_, err := tree.Git(p, repo, "worktree", "add", "--quiet", "--detach", dir, ref).Run(ctx)
	return err
}

// WriteSeries replaces the series files in dir (patches/<minor>/) with the carried series, as
// `git format-patch` writes it (the flags hk export uses), and moves each kept patch's companion
// files (<patch>.pr.md, <patch>.issue.md) to its new name; a dropped patch's go with it. It
// returns each kept patch's old name and new name.
func WriteSeries(ctx context.Context, p *versions.Pins, r *Result, dir string) (map[string]string, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".series-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out, err := tree.Git(p, r.Worktree, "format-patch", "--zero-commit", "--no-signature", "--abbrev=8",
		"--filename-max-length=100", "-o", tmp, "upstream-"+p.Kubernetes.Version+"..HEAD").Output(ctx)
	if err != nil {
		return nil, err
	}
	written := strings.Fields(out)
	kept := r.Kept()
	if len(written) != len(kept) {
		return nil, fmt.Errorf("format-patch wrote %d patches for %d carried", len(written), len(kept))
	}
	renamed := map[string]string{}
	for i, o := range kept {
		renamed[o.Patch.Name] = filepath.Base(written[i])
	}
	companions, err := filepath.Glob(filepath.Join(dir, "[0-9][0-9][0-9][0-9]-*"))
	if err != nil {
		return nil, err
	}
	// Stage the companions under their new names beside the new patches, then swap.
	for _, f := range companions {
		name := filepath.Base(f)
		if strings.HasSuffix(name, ".patch") {
			continue
		}
		for _, o := range r.Outcomes {
			stem := strings.TrimSuffix(o.Patch.Name, ".patch")
			if !strings.HasPrefix(name, stem+".") {
				continue
			}
			if to, ok := renamed[o.Patch.Name]; ok {
				if err := modcache.CopyFile(f, filepath.Join(tmp, strings.TrimSuffix(to, ".patch")+strings.TrimPrefix(name, stem)), 0o644); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, f := range companions {
		if err := os.Remove(f); err != nil {
			return nil, err
		}
	}
	staged, err := os.ReadDir(tmp)
	if err != nil {
		return nil, err
	}
	for _, e := range staged {
		if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return nil, err
		}
	}
	return renamed, nil
}
