package series

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardened-hyperkube/hk/internal/source/tree"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// A second Apply of the same series leaves an untouched worktree alone (a build may be running
// in it), and re-applies once a tracked file changed or the series did.
func TestApplyLeavesAnUpToDateWorktreeAlone(t *testing.T) {
	ctx := context.Background()
	p := &versions.Pins{Kubernetes: versions.Module{Path: "k8s.io/kubernetes", Version: "v1.99.0"}, ReleaseTime: "2026-01-01T00:00:00Z"}
	dir := t.TempDir()
	pristine := filepath.Join(dir, "pristine")
	git := func(d string, args ...string) string {
		t.Helper()
		out, err := tree.Git(p, d, args...).Output(ctx)
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return out
	}
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(pristine, 0o755); err != nil {
		t.Fatal(err)
	}
	git(pristine, "init", "--quiet")
	write(filepath.Join(pristine, "a.go"), "package a\n")
	git(pristine, "add", ".")
	git(pristine, "commit", "--quiet", "-m", "upstream")
	git(pristine, "tag", "upstream-v1.99.0")
	write(filepath.Join(pristine, "a.go"), "package a\n\nconst Fixed = true\n")
	git(pristine, "commit", "--quiet", "-am", "fix")
	patches := filepath.Join(dir, "patches")
	git(pristine, "format-patch", "--quiet", "-o", patches, "HEAD~1")
	git(pristine, "reset", "--quiet", "--hard", "upstream-v1.99.0")
	files, _ := filepath.Glob(filepath.Join(patches, "*.patch"))
	if len(files) != 1 {
		t.Fatalf("format-patch wrote %v", files)
	}
	s := &Series{Minor: "1.99", Patches: []Patch{{Number: "0001", Name: filepath.Base(files[0]), Path: files[0], SHA256: "1"}}}
	work := filepath.Join(dir, "work-patched")

	first, err := Apply(ctx, p, pristine, work, s)
	if err != nil {
		t.Fatal(err)
	}
	// An untracked file stands for a build's output: a skipped apply leaves it, a real one cleans.
	marker := filepath.Join(work, "untracked")
	write(marker, "x")
	again, err := Apply(ctx, p, pristine, work, s)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("second apply: HEAD %s, want %s", again, first)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("second apply of an up-to-date worktree touched it: %v", err)
	}

	// The go command's -mod=mod edits to go.mod are its own, not an edit of the tree.
	write(filepath.Join(pristine, "go.mod"), "module a\n")
	git(pristine, "add", "go.mod")
	git(pristine, "commit", "--quiet", "-m", "go.mod")
	git(pristine, "tag", "-f", "upstream-v1.99.0")
	first, err = Apply(ctx, p, pristine, work, s)
	if err != nil {
		t.Fatal(err)
	}
	write(marker, "x")
	write(filepath.Join(work, "go.mod"), "module a\n\nrequire b v1.0.0\n")
	if _, err := Apply(ctx, p, pristine, work, s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("an apply after the go command edited go.mod touched the worktree: %v", err)
	}

	write(filepath.Join(work, "a.go"), "package a\n// edited\n")
	if _, err := Apply(ctx, p, pristine, work, s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("an edited worktree was not applied afresh")
	}
	if got, _ := os.ReadFile(filepath.Join(work, "a.go")); string(got) != "package a\n\nconst Fixed = true\n" {
		t.Errorf("a.go after re-apply: %q", got)
	}

	write(marker, "x")
	s.Patches[0].SHA256 = "2" // the patch file changed
	if _, err := Apply(ctx, p, pristine, work, s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a changed series was not applied afresh")
	}
}
