package follow

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/source/carry"
	"github.com/hardened-hyperkube/hk/internal/source/modproxy"
	"github.com/hardened-hyperkube/hk/internal/source/tree"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// upstream is a made-up k8s.io/kubernetes: pkg/a.go's line 6 is what our patch 0001 changes,
// pkg/c.go's what 0002 changes.
func upstreamFiles(line4, line6 string) map[string]string {
	a := []string{"package pkg", "", "// one", line4, "// five", line6, "// seven", "// eight", "// nine", ""}
	return map[string]string{
		"go.mod":                      "module k8s.io/kubernetes\n\ngo 1.26\n\nrequire (\n\tgo.etcd.io/etcd/server/v3 v3.6.0\n\tk8s.io/api v0.0.0\n)\n\nreplace k8s.io/api => ./staging/src/k8s.io/api\n",
		"pkg/a.go":                    strings.Join(a, "\n"),
		"pkg/c.go":                    "package pkg\n\n// c\nconst C = 1\n",
		"CHANGELOG/CHANGELOG-1.99.md": "# v1.99.3\n\n## Downloads for v1.99.3\n\n| file | sha |\n\n## Changes by Kind\n\n### Bug or Regression\n\n- Fixed the value. (#3)\n\n## Dependencies\n\n# v1.99.1\n\n## Changes by Kind\n\n### Feature\n\n- Moved a comment. (#1)\n\n# v1.99.0\n\n## Changes by Kind\n\n- First.\n",
	}
}

const (
	orig      = "// four"
	value1    = "var value = 1"
	value2    = "var value = 2" // our patch 0001
	value3    = "var value = 3" // upstream's own change of the same line
	movedNear = "// four, reworded upstream"
)

type lab struct {
	t      *testing.T
	root   string // the hk checkout
	opts   Options
	proxy  string
	logged []string
}

// newLab publishes v1.99.0 and the made-up releases after it on a module proxy on the file system,
// and makes an hk checkout pinned to v1.99.0 carrying a two-patch series made on that tree.
func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{t: t, root: t.TempDir(), proxy: t.TempDir()}
	cache := t.TempDir()
	for _, kv := range modproxy.Env(l.proxy, cache) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Cleanup(func() { exec.Command("go", "clean", "-modcache").Run() }) // its files are read-only
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	publish := func(version string, files map[string]string, staging bool) {
		t.Helper()
		if _, err := modproxy.Publish(l.proxy, "k8s.io/kubernetes", version, files, at); err != nil {
			t.Fatal(err)
		}
		if staging {
			if _, err := modproxy.Publish(l.proxy, "k8s.io/api", "v0."+strings.TrimPrefix(version, "v1."), map[string]string{
				"go.mod": "module k8s.io/api\n\ngo 1.26\n", "types.go": "package api\n\n// " + version + "\n",
			}, at); err != nil {
				t.Fatal(err)
			}
		}
		at = at.Add(24 * time.Hour)
	}
	publish("v1.99.0", upstreamFiles(orig, value1), true)
	publish("v1.99.1", upstreamFiles(movedNear, value1), true) // a line near 0001's hunk moved
	publish("v1.99.2", upstreamFiles(orig, value3), true)      // 0001's own line changed
	publish("v1.99.3", upstreamFiles(orig, value2), true)      // upstream merged 0001
	publish("v1.99.4", upstreamFiles(orig, value2), false)     // staging modules not out yet

	ctx := context.Background()
	p, err := versions.Resolve(ctx, "v1.99.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(l.root, versions.Dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := p.Save(l.root); err != nil {
		t.Fatal(err)
	}
	l.opts = Options{Root: l.root, CacheDir: filepath.Join(l.root, "out", "trees"), WorkDir: filepath.Join(l.root, "out", "follow"),
		Log: func(format string, args ...any) { l.logged = append(l.logged, fmt.Sprintf(format, args...)) }}
	pristine, err := tree.Materialize(ctx, p, l.opts.CacheDir, l.opts.Log)
	if err != nil {
		t.Fatal(err)
	}
	// The series: made on v1.99.0 as patches are, with git.
	work := filepath.Join(t.TempDir(), "w")
	l.git(pristine, "worktree", "add", "--quiet", "--detach", work, "upstream-v1.99.0")
	edit := func(file, from, to, subject string) {
		path := filepath.Join(work, file)
		data, _ := os.ReadFile(path)
		if err := os.WriteFile(path, []byte(strings.Replace(string(data), from, to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		l.git(work, "commit", "--quiet", "-am", subject)
	}
	edit("pkg/a.go", value1, value2, "pkg: set the value to 2")
	edit("pkg/c.go", "const C = 1", "const C = 2", "pkg: set C to 2")
	patches := filepath.Join(l.root, "patches", "v1.99")
	l.git(work, "format-patch", "--quiet", "--zero-commit", "--no-signature", "--abbrev=8", "-o", patches, "upstream-v1.99.0..HEAD")
	l.git(pristine, "worktree", "remove", "--force", work)
	write(t, filepath.Join(patches, "0001-pkg-set-the-value-to-2.pr.md"), "the upstream PR text\n")
	write(t, filepath.Join(patches, "0002-pkg-set-C-to-2.pr.md"), "C's PR text\n")
	write(t, filepath.Join(l.root, "Makefile"), "TEST_BACKPORTS ?= v1.99.0 v1.98.9\n")
	write(t, filepath.Join(l.root, ".gitignore"), "out/\n")
	l.git(l.root, "init", "--quiet")
	l.git(l.root, "add", ".")
	l.git(l.root, "commit", "--quiet", "-m", "pinned v1.99.0")
	return l
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (l *lab) git(dir string, args ...string) string {
	l.t.Helper()
	out, err := tree.Git(&versions.Pins{ReleaseTime: "2026-11-01T00:00:00Z"}, dir, args...).Output(context.Background())
	if err != nil {
		l.t.Fatalf("git %v: %v", args, err)
	}
	return out
}

func (l *lab) follow(to string) (*LineResult, error) {
	l.opts.Lines, l.opts.To = []string{"v1.99"}, to
	rs, err := Run(context.Background(), l.opts)
	if len(rs) != 1 {
		if err == nil {
			l.t.Fatalf("follow %s: %d results", to, len(rs))
		}
		return nil, err
	}
	return rs[0], err
}

func (l *lab) how(r *LineResult) string {
	var s []string
	for _, o := range r.Outcomes {
		s = append(s, o.Patch.Number+" "+o.How)
	}
	return strings.Join(s, ", ")
}

func (l *lab) onBranch(branch, path string) string {
	return l.git(l.root, "show", branch+":"+path)
}

// A release that only changed lines beside a hunk: git's 3-way merge carries the patch, the new
// pins (the proxy's new module hash) are committed on the branch with the regenerated series.
func TestFollowMergesAPatchWhoseContextMoved(t *testing.T) {
	l := newLab(t)
	r, err := l.follow("v1.99.1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.how(r), "0001 "+carry.Merged+", 0002 "+carry.Applied; got != want {
		t.Errorf("outcomes %q, want %q", got, want)
	}
	pins := l.onBranch(r.Branch, "build/versions/v1.99.1.json")
	p, _ := versions.Resolve(context.Background(), "v1.99.1")
	if !strings.Contains(pins, p.Kubernetes.Sum) || strings.Contains(pins, "v1.99.0") {
		t.Errorf("the branch's pins are not v1.99.1's (%s):\n%s", p.Kubernetes.Sum, pins)
	}
	if files := l.git(l.root, "ls-tree", "--name-only", r.Branch, "build/versions/"); files != "build/versions/v1.99.1.json" {
		t.Errorf("the branch pins %q, want only v1.99.1", files)
	}
	patch := l.onBranch(r.Branch, "patches/v1.99/0001-pkg-set-the-value-to-2.patch")
	if !strings.Contains(patch, movedNear) || !strings.Contains(patch, "+"+value2) {
		t.Errorf("the carried 0001 does not have v1.99.1's context:\n%s", patch)
	}
	if mk := l.onBranch(r.Branch, "Makefile"); mk != "TEST_BACKPORTS ?= v1.99.1 v1.98.9" {
		t.Errorf("Makefile on the branch: %q", mk)
	}
	changelog := l.onBranch(r.Branch, "CHANGELOG.md")
	for _, want := range []string{"## v1.99.1-hk.1", "Moved a comment. (#1)", "0001-pkg-set-the-value-to-2.patch: merged (3-way)", "#### v1.99.1\n\n##### Feature"} {
		if !strings.Contains(changelog, want) {
			t.Errorf("CHANGELOG lacks %q:\n%s", want, changelog)
		}
	}
	if strings.Contains(changelog, "Fixed the value") {
		t.Errorf("CHANGELOG has a later release's notes:\n%s", changelog)
	}
	report, _ := os.ReadFile(r.Report)
	if !strings.Contains(string(report), "1:  ") || !strings.Contains(string(report), "pkg: set the value to 2") {
		t.Errorf("the report has no range-diff:\n%s", report)
	}
	if st := l.git(l.root, "status", "--porcelain"); st != "" {
		t.Errorf("the user's checkout changed:\n%s", st)
	}
}

// A release that changed the patch's own line: a clean stop naming patch, file and hunk, the
// half-applied worktree left, next steps written, nothing else changed; once a human resolves
// it, --continue finishes unattended.
func TestFollowStopsCleanlyOnAConflict(t *testing.T) {
	l := newLab(t)
	_, err := l.follow("v1.99.2")
	want := "patch 0001-pkg-set-the-value-to-2.patch conflicts with v1.99.2: pkg/a.go: hunk #1 (@@ -3,7 +3,7 @@) does not match the tree"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("follow v1.99.2: %v\nwant one line containing %q", err, want)
	}
	if st := l.git(l.root, "status", "--porcelain"); st != "" {
		t.Errorf("the checkout changed:\n%s", st)
	}
	if b := l.git(l.root, "branch", "--list", "follow/*"); b != "" {
		t.Errorf("a branch was made: %s", b)
	}
	next, err := os.ReadFile(filepath.Join(l.opts.WorkDir, "v1.99.2", nextStepsFile))
	if err != nil || !strings.Contains(string(next), "hk follow --line v1.99 --to v1.99.2 --continue") {
		t.Errorf("next steps: %v\n%s", err, next)
	}
	work := filepath.Join(l.opts.CacheDir, "v1.99.2", "follow", "carried")
	data, _ := os.ReadFile(filepath.Join(work, "pkg", "a.go"))
	if !strings.Contains(string(data), "<<<<<<<") {
		t.Errorf("the worktree holds no conflict for a human:\n%s", data)
	}
	l.opts.Continue = true
	if _, err := l.follow("v1.99.2"); err == nil || !strings.Contains(err.Error(), "git am is still in progress") {
		t.Errorf("--continue before the human finished: %v", err)
	}
	// The human: keep upstream's line and ours both in mind, choose ours.
	write(t, filepath.Join(work, "pkg", "a.go"), strings.Join([]string{"package pkg", "", "// one", orig, "// five", value2, "// seven", "// eight", "// nine", ""}, "\n"))
	l.git(work, "add", "-A")
	l.git(work, "-c", "core.editor=true", "am", "--continue")
	l.git(work, "am", "-3", "--committer-date-is-author-date", filepath.Join(l.root, "patches", "v1.99", "0002-pkg-set-C-to-2.patch"))
	r, err := l.follow("v1.99.2")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.how(r), "0001 "+carry.ByHand+", 0002 "+carry.ByHand; got != want {
		t.Errorf("outcomes %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(l.opts.WorkDir, "v1.99.2", nextStepsFile)); err == nil {
		t.Errorf("next steps left after the follow finished")
	}
}

// A release that contains one of our patches: it is dropped, said so, the others renumbered with
// their companion files; the newest whole release is the default target and a release whose
// staging modules are not out yet is "not yet"; a second follow finds nothing new.
func TestFollowDropsAPatchUpstreamMerged(t *testing.T) {
	l := newLab(t)
	l.opts.Proofs = func(version string) []Proof {
		return []Proof{{Name: "the pins load", Args: []string{"test", "-s", "build/versions/" + version + ".json"}}}
	}
	r, err := l.follow("")
	if err != nil {
		t.Fatal(err)
	}
	if r.To != "v1.99.3" || strings.Join(r.NotYet, ",") != "v1.99.4" || strings.Join(r.Skipped, ",") != "v1.99.1,v1.99.2" {
		t.Errorf("to %s, not yet %v, skipped %v; want v1.99.3, [v1.99.4], [v1.99.1 v1.99.2]", r.To, r.NotYet, r.Skipped)
	}
	if got, want := l.how(r), "0001 "+carry.Dropped+", 0002 "+carry.Applied; got != want {
		t.Errorf("outcomes %q, want %q", got, want)
	}
	files := l.git(l.root, "ls-tree", "--name-only", r.Branch, "patches/v1.99/")
	if want := "patches/v1.99/0001-pkg-set-C-to-2.patch\npatches/v1.99/0001-pkg-set-C-to-2.pr.md"; files != want {
		t.Errorf("series on the branch:\n%s\nwant:\n%s", files, want)
	}
	if pr := l.onBranch(r.Branch, "patches/v1.99/0001-pkg-set-C-to-2.pr.md"); pr != "C's PR text" {
		t.Errorf("the kept patch's PR text: %q", pr)
	}
	if changelog := l.onBranch(r.Branch, "CHANGELOG.md"); !strings.Contains(changelog, "the pins load: passed") || !strings.Contains(changelog, "v1.99.1, v1.99.2 not released on their own") ||
		!strings.Contains(changelog, "Fixed the value. (#3)") || !strings.Contains(changelog, "Moved a comment. (#1)") {
		t.Errorf("CHANGELOG:\n%s", changelog)
	}

	// The branch merged, a second follow: nothing new, said in one result, no error.
	l.git(l.root, "merge", "--quiet", "--ff-only", r.Branch)
	again, err := l.follow("")
	if err != nil || again.To != "" || again.From != "v1.99.3" {
		t.Errorf("second follow: %+v, %v; want nothing new after v1.99.3", again, err)
	}
}

// Upstream's tree holds the notes of the releases before it, not its own: said, not left out.
func TestUpstreamChangesSaysWhereTheTreeHasNoNotes(t *testing.T) {
	changelog := "# v1.36.2\n\n## Downloads\n\n## Changes by Kind\n\n### Bug or Regression\n\n- A fix. (#2)\n\n## Dependencies\n\n- none\n\n# v1.36.1\n\n## Changes by Kind\n\n- Older.\n"
	got := UpstreamChanges(changelog, "v1.36.1", "v1.36.3")
	for _, want := range []string{"#### v1.36.2\n\n##### Bug or Regression\n\n- A fix. (#2)", "#### v1.36.3\n\nNot in its own tree"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for _, not := range []string{"Older.", "none", "Downloads"} {
		if strings.Contains(got, not) {
			t.Errorf("has %q (another release's or not a change) in:\n%s", not, got)
		}
	}
}

// A proof that fails stops the follow before the commit: one line naming the proof, its log and
// how to rerun it; the branch holds nothing new, the checkout is left for a human.
func TestFollowStopsOnAFailingProof(t *testing.T) {
	l := newLab(t)
	l.opts.Proofs = func(string) []Proof {
		return []Proof{{Name: "the lab", Args: []string{"sh", "-c", "echo booting; exit 3"}}}
	}
	_, err := l.follow("v1.99.1")
	if err == nil || !strings.Contains(err.Error(), `proof "the lab" failed on v1.99.1`) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("follow with a failing proof: %v", err)
	}
	if head, branch := l.git(l.root, "rev-parse", "HEAD"), l.git(l.root, "rev-parse", "follow/v1.99.1"); head != branch {
		t.Errorf("the branch was committed to: %s, main at %s", branch, head)
	}
	if log, _ := os.ReadFile(filepath.Join(l.opts.WorkDir, "v1.99.1", "proofs.log")); !strings.Contains(string(log), "booting") {
		t.Errorf("the proof's output is not in its log: %q", log)
	}
}
