// Package series selects patches from patches/<minor>/ and applies them with `git am` to a
// worktree of the pristine upstream tree.
package series

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/source/tree"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// Patch is one file of a series.
type Patch struct {
	Number string // "0001"
	Name   string // "0001-apiserver-loopback-client-never-resolves-a-name.patch"
	Path   string
	SHA256 string
}

// Series is an ordered selection of patches.
type Series struct {
	Minor   string
	Patches []Patch
	// Named is the selection's name when it is a named subset (NoLoopbackFix), "" otherwise.
	Named string
}

// Selection values accepted by Select.
const (
	All  = "all"
	None = "none"
	// NoLoopbackFix is every patch but those that change how the loopback client picks its host
	// (they touch loopbackFixFile): the retry and shutdown patches alone, the lab's control for
	// what retrying does without the fix. Named, not numbered, so it means the same in every
	// release's series whatever the patches' numbers.
	NoLoopbackFix = "no-loopback-fix"
)

// loopbackFixFile is the file where k8s.io/apiserver picks the loopback client's host.
const loopbackFixFile = "staging/src/k8s.io/apiserver/pkg/server/config_selfclient"

// Dir returns the directory holding the series for a minor, under root.
func Dir(root, minor string) string { return filepath.Join(root, "patches", minor) }

// Select reads patches/<minor>/ and keeps the patches named by selection: "all", "none",
// NoLoopbackFix, or a comma-separated list of patch numbers ("0002" or "0001,0002").
func Select(root, minor, selection string) (*Series, error) {
	dir := Dir(root, minor)
	files, err := filepath.Glob(filepath.Join(dir, "[0-9][0-9][0-9][0-9]-*.patch"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	s := &Series{Minor: minor}
	if selection == None {
		return s, nil
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no patches in %s", dir)
	}
	byNumber := map[string]Patch{}
	var all, noLoopbackFix []Patch
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		p := Patch{Number: filepath.Base(f)[:4], Name: filepath.Base(f), Path: f, SHA256: fmt.Sprintf("%x", sha256.Sum256(data))}
		all = append(all, p)
		byNumber[p.Number] = p
		if !bytes.Contains(data, []byte(" b/"+loopbackFixFile)) {
			noLoopbackFix = append(noLoopbackFix, p)
		}
	}
	switch selection {
	case All, "":
		s.Patches = all
		return s, nil
	case NoLoopbackFix:
		if len(noLoopbackFix) == len(all) {
			return nil, fmt.Errorf("no patch in %s touches %s: %s selects the whole series", dir, loopbackFixFile, NoLoopbackFix)
		}
		s.Patches, s.Named = noLoopbackFix, NoLoopbackFix
		return s, nil
	}
	seen := map[string]bool{}
	for _, n := range strings.Split(selection, ",") {
		n = strings.TrimSpace(n)
		p, ok := byNumber[n]
		if !ok {
			return nil, fmt.Errorf("patch %q is not in %s (have %s)", n, dir, numbers(all))
		}
		if !seen[n] {
			seen[n] = true
			s.Patches = append(s.Patches, p)
		}
	}
	// Always apply in series order, whatever order was asked for.
	sort.Slice(s.Patches, func(i, j int) bool { return s.Patches[i].Number < s.Patches[j].Number })
	return s, nil
}

// Label names the selection for output paths: "" for the whole series, "unpatched" for none,
// the name of a named subset ("no-loopback-fix"), "p0002" or "p0001-0003" for another subset.
func (s *Series) Label(root string) string {
	full, err := Select(root, s.Minor, All)
	switch {
	case len(s.Patches) == 0:
		return "unpatched"
	case s.Named != "":
		return s.Named
	case err == nil && len(full.Patches) == len(s.Patches):
		return ""
	}
	return "p" + strings.ReplaceAll(numbers(s.Patches), ",", "-")
}

// Digest identifies the exact patch contents applied; "" when none.
func (s *Series) Digest() string {
	if len(s.Patches) == 0 {
		return ""
	}
	h := sha256.New()
	for _, p := range s.Patches {
		fmt.Fprintf(h, "%s %s\n", p.Name, p.SHA256)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// Numbers returns the selection's patch numbers, in order ("0001", "0003").
func (s *Series) Numbers() []string {
	var n []string
	for _, p := range s.Patches {
		n = append(n, p.Number)
	}
	return n
}

func numbers(ps []Patch) string {
	return strings.Join((&Series{Patches: ps}).Numbers(), ",")
}

// Apply checks out a worktree of the pristine repository at worktreeDir, reset to the pristine
// commit, and applies the series there with `git am`. It returns the resulting HEAD commit.
// The worktree is scratch space owned by hk: local edits in it are discarded.
func Apply(ctx context.Context, p *versions.Pins, pristine, worktreeDir string, s *Series) (string, error) {
	base := "upstream-" + p.Kubernetes.Version
	baseCommit, err := tree.Git(p, pristine, "rev-parse", base).Output(ctx)
	if err != nil {
		return "", err
	}
	stamp := appliedStamp(worktreeDir)
	want := s.applyDigest(baseCommit)
	if commit, ok := upToDate(ctx, p, worktreeDir, stamp, want); ok {
		return commit, nil
	}
	_ = os.Remove(stamp)
	if _, err := os.Stat(filepath.Join(worktreeDir, ".git")); err != nil {
		_ = os.RemoveAll(worktreeDir)
		if _, err := tree.Git(p, pristine, "worktree", "prune").Run(ctx); err != nil {
			return "", err
		}
		if _, err := tree.Git(p, pristine, "worktree", "add", "--quiet", "--detach", worktreeDir, base).Run(ctx); err != nil {
			return "", err
		}
	} else {
		_, _ = tree.Git(p, worktreeDir, "am", "--abort").Run(ctx) // left over from an interrupted run
		for _, args := range [][]string{{"checkout", "--quiet", "--force", "--detach", base}, {"clean", "-ffdxq"}} {
			if _, err := tree.Git(p, worktreeDir, args...).Run(ctx); err != nil {
				return "", err
			}
		}
	}
	for _, patch := range s.Patches {
		if _, err := tree.Git(p, worktreeDir, "am", "--quiet", "--committer-date-is-author-date", patch.Path).Run(ctx); err != nil {
			detail := ExplainFailure(ctx, p, worktreeDir, patch, nil)
			_, _ = tree.Git(p, worktreeDir, "am", "--abort").Run(ctx)
			return "", fmt.Errorf("patch %s does not apply to %s: %s", patch.Name, p.Kubernetes.Version, detail)
		}
	}
	commit, err := tree.Git(p, worktreeDir, "rev-parse", "HEAD").Output(ctx)
	if err != nil {
		return "", err
	}
	return commit, os.WriteFile(stamp, []byte(want+" "+commit+"\n"), 0o644)
}

// appliedStamp is where Apply records what a worktree holds: beside it, not in it, so no build
// or `git clean` sees it.
func appliedStamp(worktreeDir string) string {
	return filepath.Join(filepath.Dir(worktreeDir), "."+filepath.Base(worktreeDir)+".applied")
}

// applyDigest names the series' result: its base commit and every patch's bytes, in order.
func (s *Series) applyDigest(base string) string {
	h := sha256.New()
	fmt.Fprintf(h, "base %s\n", base)
	for _, patch := range s.Patches {
		fmt.Fprintf(h, "%s %s\n", patch.Name, patch.SHA256)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// upToDate reports whether the worktree already holds the series' result, untouched: then Apply
// leaves it alone, so a build or test already running in it (make test's stages share worktrees)
// never sees a file reverted and re-patched under it. Untracked files (the generated OpenAPI
// definitions, test output) are not checked; tracked files must be as committed, but for the
// go command's own edits to go.mod and go.sum: builds and tests here run with -mod=mod, which
// writes the staging modules' versions into go.mod, and no patch of a series touches a module
// file (TestPatchesTouchNoModuleFilesOrVendor).
func upToDate(ctx context.Context, p *versions.Pins, worktreeDir, stamp, want string) (string, bool) {
	data, err := os.ReadFile(stamp)
	if err != nil {
		return "", false
	}
	digest, commit, ok := strings.Cut(strings.TrimSpace(string(data)), " ")
	if !ok || digest != want {
		return "", false
	}
	head, err := tree.Git(p, worktreeDir, "rev-parse", "HEAD").Output(ctx)
	if err != nil || head != commit {
		return "", false
	}
	changed, err := tree.Git(p, worktreeDir, "diff", "--name-only", "HEAD").Output(ctx)
	if err != nil {
		return "", false
	}
	for _, name := range strings.Fields(changed) {
		if base := filepath.Base(name); base != "go.mod" && base != "go.sum" {
			return "", false
		}
	}
	return commit, true
}

var failedAtRE = regexp.MustCompile(`error: patch failed: (.+):(\d+)`)

// ExplainFailure names the file and hunk of patch that does not apply to HEAD of the worktree dir
// (in the files of only, when given), or git's own complaint when the patch is malformed. It
// checks against HEAD through an index of its own, so a worktree a failed `git am -3` left full
// of conflict markers is read as the commit it was.
func ExplainFailure(ctx context.Context, p *versions.Pins, dir string, patch Patch, only []string) string {
	index, err := os.CreateTemp("", "hk-index-")
	if err != nil {
		return err.Error()
	}
	index.Close()
	defer os.Remove(index.Name())
	if _, err := tree.Git(p, dir, "read-tree", "HEAD").WithEnv("GIT_INDEX_FILE=" + index.Name()).Run(ctx); err != nil {
		return err.Error()
	}
	args := []string{"apply", "--cached", "--check", "-v"}
	for _, f := range only {
		args = append(args, "--include="+f)
	}
	out, _ := tree.Git(p, dir, append(args, patch.Path)...).WithEnv("GIT_INDEX_FILE=" + index.Name()).Run(ctx)
	if m := failedAtRE.FindStringSubmatch(out); m != nil {
		line, _ := strconv.Atoi(m[2])
		if n, header := findHunk(patch.Path, m[1], line); n > 0 {
			return fmt.Sprintf("%s: hunk #%d (%s) does not match the tree", m[1], n, header)
		}
		return fmt.Sprintf("%s: hunk at line %d does not match the tree", m[1], line)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "error: ") || strings.HasPrefix(l, "fatal: ") {
			return strings.TrimSpace(l)
		}
	}
	if len(only) > 0 {
		return strings.Join(only, ", ") + ": merge conflict"
	}
	return "git am failed: " + strings.TrimSpace(out)
}

var hunkRE = regexp.MustCompile(`^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@`)

// findHunk returns the 1-based index and header of the hunk for file starting at old line.
func findHunk(patchPath, file string, line int) (int, string) {
	f, err := os.Open(patchPath)
	if err != nil {
		return 0, ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	inFile, n := false, 0
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "diff --git ") {
			inFile = strings.HasSuffix(l, " b/"+file)
			n = 0
			continue
		}
		if !inFile {
			continue
		}
		if m := hunkRE.FindStringSubmatch(l); m != nil {
			n++
			if start, _ := strconv.Atoi(m[1]); start == line {
				return n, strings.TrimSpace(m[0])
			}
		}
	}
	return 0, ""
}
