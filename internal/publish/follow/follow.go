// Package follow moves a release line to upstream's newest patch release, unattended: ask the
// module proxy what it serves, pin it, carry the series onto it (package carry), and on a branch
// of its own in a checkout of its own write the new pins, the regenerated series and a CHANGELOG
// entry, run the line's proofs and release there, and commit — or stop where a human is needed
// and say what to do. The user's checkout is never touched.
package follow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/steps"
	"github.com/hardened-hyperkube/hk/internal/source/carry"
	"github.com/hardened-hyperkube/hk/internal/source/series"
	"github.com/hardened-hyperkube/hk/internal/source/tree"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// Proof is one command run in the new checkout after the series is carried; all must pass before
// the branch is committed.
type Proof struct {
	Name string
	Args []string
}

// Options says which lines to follow and how to prove them.
type Options struct {
	Root     string   // the hk checkout
	Lines    []string // minors ("v1.36"); every line with pins and a series when empty
	To       string   // one line only: move to this release instead of the newest (also back)
	CacheDir string   // where the pristine trees live (out/trees)
	WorkDir  string   // out/follow: checkouts, reports, next steps
	// Check only asks the proxy what each line could move to; nothing is pinned or written.
	Check bool
	// Continue takes up a carry a conflict stopped, once a human finished `git am` in its worktree.
	Continue bool
	// Proofs returns the proofs of a release of the line; nil proves nothing (tests).
	Proofs func(version string) []Proof
	Log    func(format string, args ...any)
}

// LineResult is what following one line did.
type LineResult struct {
	Line, From, To string
	NotYet         []string // served only in part: upstream is still publishing them
	Skipped        []string // whole, but older than To
	Outcomes       []carry.Outcome
	Branch         string
	Checkout       string
	Report         string
	ProofTimes     []string
}

// Lines returns the release lines the checkout carries: each minor with pins and a series.
func Lines(root string) []string {
	var lines []string
	for _, v := range versions.Known(root) {
		minor, _ := versions.Minor(v)
		if _, err := os.Stat(series.Dir(root, minor)); err == nil && !slices.Contains(lines, minor) {
			lines = append(lines, minor)
		}
	}
	return lines
}

// current returns the one pinned release of a line.
func current(root, line string) (string, error) {
	var pinned []string
	for _, v := range versions.Known(root) {
		if m, _ := versions.Minor(v); m == line {
			pinned = append(pinned, v)
		}
	}
	switch len(pinned) {
	case 0:
		return "", fmt.Errorf("line %s: no pins in %s (carried lines: %s)", line, versions.Dir, strings.Join(Lines(root), ", "))
	case 1:
		return pinned[0], nil
	}
	return "", fmt.Errorf("line %s: %d releases pinned (%s); a line pins one", line, len(pinned), strings.Join(pinned, ", "))
}

// Run follows each line in turn and stops at the first that needs a human.
func Run(ctx context.Context, o Options) ([]*LineResult, error) {
	lines := o.Lines
	if len(lines) == 0 {
		lines = Lines(o.Root)
	}
	if o.To != "" && len(lines) != 1 {
		return nil, fmt.Errorf("--to %s moves one line; name it with --line", o.To)
	}
	var results []*LineResult
	for _, line := range lines {
		r, err := followLine(ctx, o, line)
		if r != nil {
			results = append(results, r)
		}
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

// lineRun is one line's follow: its steps share these fields.
type lineRun struct {
	o        Options
	r        *LineResult
	old, new *versions.Pins
	s        *series.Series
	carried  *carry.Result
	pristine [2]string // old, new
	dir      string    // out/follow/<new>
}

func followLine(ctx context.Context, o Options, line string) (*LineResult, error) {
	from, err := current(o.Root, line)
	if err != nil {
		return nil, err
	}
	run := &lineRun{o: o, r: &LineResult{Line: line, From: from}}
	if run.old, err = versions.Load(o.Root, from); err != nil {
		return nil, err
	}
	if run.s, err = series.Select(o.Root, line, series.All); err != nil {
		return nil, err
	}
	if err := run.target(ctx); err != nil || run.r.To == "" || o.Check {
		return run.r, err
	}
	run.dir = filepath.Join(o.WorkDir, run.r.To)
	prefix := fmt.Sprintf("follow %s → %s", from, run.r.To)
	err = steps.Run(ctx, o.Log, prefix, []steps.Step{
		{Name: "pinning " + run.r.To + " from the module proxy", Run: run.pin},
		{Name: "materializing both trees", Run: run.materialize},
		{Name: "carrying the series (git am -3)", Run: run.carry},
		{Name: "writing pins, series and CHANGELOG on branch follow/" + run.r.To, Run: run.checkout},
		{Name: "running the line's proofs", Run: run.prove},
		{Name: "committing", Run: run.commit},
	})
	return run.r, err
}

// target picks the release to move to, or leaves r.To empty when there is nothing new.
func (l *lineRun) target(ctx context.Context) error {
	whole, partial, err := versions.Newer(ctx, l.old)
	if err != nil {
		return err
	}
	l.r.NotYet = partial
	if l.o.To != "" {
		if m, _ := versions.Minor(l.o.To); m != l.r.Line {
			return fmt.Errorf("--to %s is not on line %s", l.o.To, l.r.Line)
		}
		if l.o.To == l.r.From {
			return nil
		}
		l.r.To = l.o.To
		return nil
	}
	if len(whole) == 0 {
		return nil
	}
	l.r.To = whole[len(whole)-1]
	l.r.Skipped = whole[:len(whole)-1]
	return nil
}

func (l *lineRun) pin(ctx context.Context) error {
	p, err := versions.Resolve(ctx, l.r.To)
	if err != nil {
		return err
	}
	p.Overlay = l.old.Overlay
	l.new = p
	return nil
}

func (l *lineRun) materialize(ctx context.Context) error {
	for i, p := range []*versions.Pins{l.old, l.new} {
		dir, err := tree.Materialize(ctx, p, l.o.CacheDir, l.o.Log)
		if err != nil {
			return err
		}
		l.pristine[i] = dir
	}
	return nil
}

func (l *lineRun) carry(ctx context.Context) error {
	co := carry.Options{
		Old: l.old, New: l.new, OldPristine: l.pristine[0], NewPristine: l.pristine[1],
		Series: l.s, WorkDir: filepath.Join(l.o.CacheDir, l.r.To, "follow"),
	}
	if l.o.Continue {
		r, err := carry.Resume(ctx, co)
		if err != nil {
			return err
		}
		_ = os.Remove(filepath.Join(l.dir, nextStepsFile))
		l.carried, l.r.Outcomes = r, r.Outcomes
		return nil
	}
	_ = os.Remove(filepath.Join(l.dir, nextStepsFile))
	r, err := carry.Carry(ctx, co)
	var conflict *carry.ConflictError
	if errors.As(err, &conflict) {
		if werr := l.writeNextSteps(conflict); werr != nil {
			return werr
		}
		return fmt.Errorf("%w (what to do next: %s)", err, filepath.Join(l.dir, nextStepsFile))
	}
	if err != nil {
		return err
	}
	l.carried = r
	l.r.Outcomes = r.Outcomes
	for _, o := range r.Outcomes {
		l.o.Log("follow %s: %s %s", l.r.To, o.Patch.Name, o.How)
	}
	return nil
}

const nextStepsFile = "NEXT-STEPS.md"

func (l *lineRun) writeNextSteps(c *carry.ConflictError) error {
	var rest []string
	after := false
	for _, p := range l.s.Patches {
		if after {
			rest = append(rest, p.Path)
		}
		after = after || p.Name == c.Patch
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# hk follow stopped: %s → %s\n\n", l.r.From, l.r.To)
	fmt.Fprintf(&b, "Patch `%s` does not apply to %s, and git's 3-way merge could not resolve it:\n\n    %s\n\n", c.Patch, l.r.To, c.Where)
	fmt.Fprintf(&b, "Nothing in the checkout changed: build/versions and patches/%s still pin and carry %s.\n\n", l.r.Line, l.r.From)
	fmt.Fprintf(&b, "The worktree %s is stopped in the middle of `git am -3` on upstream-%s,\nwith the patches before this one applied and the conflict marked in the file.\n\n", c.Worktree, l.r.To)
	b.WriteString("1. Resolve the conflict there, then:\n\n")
	fmt.Fprintf(&b, "       cd %s\n       git add -A && git am --continue\n", c.Worktree)
	if len(rest) > 0 {
		fmt.Fprintf(&b, "       git am -3 --committer-date-is-author-date %s\n", strings.Join(rest, " "))
	}
	fmt.Fprintf(&b, "\n2. Go on, unattended again (pins, series, CHANGELOG, proofs, release, the branch):\n\n")
	fmt.Fprintf(&b, "       hk follow --line %s --to %s --continue\n", l.r.Line, l.r.To)
	b.WriteString("\nOr, to stay on the old release for now: nothing to undo; the next `hk follow` starts over.\n")
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.dir, nextStepsFile), []byte(b.String()), 0o644)
}

// checkout makes the branch follow/<new> in a worktree of the hk repository and writes the new
// pins, the carried series, the Makefile's release names and a CHANGELOG entry there.
func (l *lineRun) checkout(ctx context.Context) error {
	l.r.Branch = "follow/" + l.r.To
	l.r.Checkout = filepath.Join(l.dir, "checkout")
	git := func(dir string, args ...string) (string, error) {
		return command.New("git", args...).InDir(dir).Output(ctx)
	}
	if _, err := git(l.o.Root, "rev-parse", "--verify", "--quiet", "refs/heads/"+l.r.Branch); err == nil {
		return fmt.Errorf("branch %s exists (an earlier follow; review or delete it: git branch -D %s, git worktree remove --force %s)", l.r.Branch, l.r.Branch, l.r.Checkout)
	}
	_, _ = git(l.o.Root, "worktree", "prune")
	_ = os.RemoveAll(l.r.Checkout)
	if _, err := git(l.o.Root, "worktree", "add", "--quiet", "-b", l.r.Branch, l.r.Checkout, "HEAD"); err != nil {
		return err
	}
	co := l.r.Checkout
	if err := l.new.Save(co); err != nil {
		return err
	}
	if err := os.Remove(versions.Path(co, l.r.From)); err != nil {
		return err
	}
	if _, err := carry.WriteSeries(ctx, l.new, l.carried, series.Dir(co, l.r.Line)); err != nil {
		return err
	}
	if err := renameRelease(filepath.Join(co, "Makefile"), l.r.From, l.r.To); err != nil {
		return err
	}
	entry, err := l.changelog()
	if err != nil {
		return err
	}
	if err := prepend(filepath.Join(co, "CHANGELOG.md"), entry); err != nil {
		return err
	}
	report := entry + "\n## Range-diff of the series, " + l.r.From + " → " + l.r.To + "\n\n```\n" + l.carried.RangeDiff + "\n```\n"
	l.r.Report = filepath.Join(l.dir, "report.md")
	return os.WriteFile(l.r.Report, []byte(report), 0o644)
}

// renameRelease replaces the release's name, as a whole word, in a file that names the releases
// the tests build (the Makefile's TEST_BACKPORTS and the like); the docs' measured figures stay
// with the release they were measured on.
func renameRelease(path, from, to string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(from) + `\b`)
	return os.WriteFile(path, re.ReplaceAll(data, []byte(to)), 0o644)
}

func (l *lineRun) prove(ctx context.Context) error {
	if l.o.Proofs == nil {
		return nil
	}
	// Each proof's whole output goes to one log beside the report; the progress names each.
	logPath := filepath.Join(l.dir, "proofs.log")
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	for _, p := range l.o.Proofs(l.r.To) {
		start := time.Now()
		l.o.Log("follow %s: proof %s: %s (output in %s)", l.r.To, p.Name, strings.Join(p.Args, " "), logPath)
		fmt.Fprintf(log, "==> %s: %s\n", p.Name, strings.Join(p.Args, " "))
		c := command.New(p.Args[0], p.Args[1:]...).InDir(l.r.Checkout)
		c.Stdout, c.Stderr = log, log
		if _, err := c.Run(ctx); err != nil {
			return fmt.Errorf("proof %q failed on %s (its output: %s; run it again in %s: %s): %w", p.Name, l.r.To, logPath, l.r.Checkout, strings.Join(p.Args, " "), err)
		}
		l.r.ProofTimes = append(l.r.ProofTimes, fmt.Sprintf("%s: passed in %s", p.Name, time.Since(start).Round(time.Second)))
	}
	return nil
}

func (l *lineRun) commit(ctx context.Context) error {
	if len(l.r.ProofTimes) > 0 {
		proofs := "\n### Proofs\n\n- " + strings.Join(l.r.ProofTimes, "\n- ") + "\n"
		if err := insertAfterFirstEntry(filepath.Join(l.r.Checkout, "CHANGELOG.md"), proofs); err != nil {
			return err
		}
		f, err := os.OpenFile(l.r.Report, os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, _ = f.WriteString(proofs)
		f.Close()
	}
	msg := fmt.Sprintf("follow: %s %s → %s\n\n%s", l.r.Line, l.r.From, l.r.To, summary(l.r.Outcomes))
	for _, args := range [][]string{
		{"add", "-A", "--", versions.Dir, "patches/" + l.r.Line, "Makefile", "CHANGELOG.md"},
		{"commit", "--quiet", "--no-verify", "-m", msg},
	} {
		if _, err := command.New("git", args...).InDir(l.r.Checkout).WithEnv("GIT_AUTHOR_NAME=hk follow", "GIT_AUTHOR_EMAIL=hk@localhost",
			"GIT_COMMITTER_NAME=hk follow", "GIT_COMMITTER_EMAIL=hk@localhost").Run(ctx); err != nil {
			return err
		}
	}
	return nil
}

// summary lists each patch's outcome, one per line.
func summary(outcomes []carry.Outcome) string {
	var b strings.Builder
	for _, o := range outcomes {
		fmt.Fprintf(&b, "- %s: %s\n", o.Patch.Name, o.How)
	}
	return b.String()
}

// changelog is the release's CHANGELOG entry: its identity, what upstream changed since the line's
// last release (from the tree's own CHANGELOG), and what happened to our series.
func (l *lineRun) changelog() (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s-hk.1\n\n", l.r.To)
	fmt.Fprintf(&b, "Upstream %s (was %s", l.r.To, l.r.From)
	if len(l.r.Skipped) > 0 {
		fmt.Fprintf(&b, "; %s not released on their own", strings.Join(l.r.Skipped, ", "))
	}
	fmt.Fprintf(&b, "), pins digest %s, followed by `hk follow` on %s.\n\n", l.new.Digest()[:12], time.Now().UTC().Format("2006-01-02"))
	b.WriteString("### Our series\n\n" + summary(l.r.Outcomes) + "\n")
	minor := strings.TrimPrefix(l.r.Line, "v")
	path := filepath.Join(l.pristine[1], "CHANGELOG", "CHANGELOG-"+minor+".md")
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(&b, "### Upstream changes\n\nThe tree has no %s.\n", filepath.Join("CHANGELOG", filepath.Base(path)))
		return b.String(), nil
	}
	fmt.Fprintf(&b, "### Upstream changes (from the tree's CHANGELOG/CHANGELOG-%s.md)\n\n", minor)
	b.WriteString(UpstreamChanges(string(data), l.r.From, l.r.To))
	return b.String(), nil
}

var releaseHeadingRE = regexp.MustCompile(`(?m)^# (v\d+\.\d+\.\d+\S*)\s*$`)

// UpstreamChanges returns the "Changes by Kind" parts of the upstream CHANGELOG's sections for
// each release after from up to to, headed by their release: the notes, not the download tables.
func UpstreamChanges(changelog, from, to string) string {
	heads := releaseHeadingRE.FindAllStringSubmatchIndex(changelog, -1)
	var b strings.Builder
	found := map[string]bool{}
	for i, h := range heads {
		v := changelog[h[2]:h[3]]
		if !after(v, from) || after(v, to) {
			continue
		}
		found[v] = true
		end := len(changelog)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		section := changelog[h[1]:end]
		start := strings.Index(section, "## Changes by Kind")
		if start < 0 {
			fmt.Fprintf(&b, "#### %s\n\nNo changes by kind listed.\n\n", v)
			continue
		}
		body := section[start+len("## Changes by Kind"):]
		if stop := strings.Index(body, "\n## "); stop >= 0 {
			body = body[:stop]
		}
		body = strings.ReplaceAll(strings.TrimSpace(body), "\n### ", "\n##### ")
		body = strings.TrimPrefix(body, "### ")
		fmt.Fprintf(&b, "#### %s\n\n##### %s\n\n", v, body)
	}
	if !found[to] && after(to, from) {
		// Upstream writes a release's notes after tagging it: they reach the tree with the next.
		fmt.Fprintf(&b, "#### %s\n\nNot in its own tree: upstream adds a release's notes to the CHANGELOG after tagging it (they come with the next patch release, and are on the release page).\n", to)
	}
	if b.Len() == 0 {
		return fmt.Sprintf("No section for the releases after %s up to %s.\n", from, to)
	}
	return b.String()
}

// after reports whether release a comes after b on the same line (pre-releases are never after).
func after(a, b string) bool {
	pa, pb := versions.PatchLevel(a), versions.PatchLevel(b)
	return pa >= 0 && pb >= 0 && pa > pb
}

// prepend puts entry at the top of the CHANGELOG, below its title, creating it if missing.
func prepend(path, entry string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		data = []byte("# Changelog\n\nOne entry per release of ours, newest first; `hk follow` writes them.\n")
	} else if err != nil {
		return err
	}
	text := string(data)
	cut := strings.Index(text, "\n## ")
	if cut < 0 {
		cut = len(text)
	}
	out := strings.TrimRight(text[:cut], "\n") + "\n\n" + strings.TrimRight(entry, "\n") + "\n" + text[cut:]
	return os.WriteFile(path, []byte(out), 0o644)
}

// insertAfterFirstEntry appends text to the newest entry of the CHANGELOG.
func insertAfterFirstEntry(path, text string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(data)
	first := strings.Index(s, "\n## ")
	if first < 0 {
		return fmt.Errorf("%s has no entry", path)
	}
	next := strings.Index(s[first+1:], "\n## ")
	end := len(s)
	if next >= 0 {
		end = first + 1 + next
	}
	out := strings.TrimRight(s[:end], "\n") + "\n" + text + s[end:]
	return os.WriteFile(path, []byte(out), 0o644)
}
