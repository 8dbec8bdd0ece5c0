package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// The exported files are the series: applied with plain `git am` to the exported branch's
// upstream tag they give exactly the branch's tree; every commit carries the upstreamer's name.
func TestExportPatchesAndBranch(t *testing.T) {
	root := fakeRoot(t)
	dest := t.TempDir()
	patches, repo := filepath.Join(dest, "patches"), filepath.Join(dest, "fork")
	const author = "Jane Doe <jane@example.org>"
	if stderr, code := hk(t, root, nil, "export", "--version", "v1.37.2", "--author", author, "--to", patches); code != 0 {
		t.Fatalf("export patches: exit %d\n%s", code, stderr)
	}
	if stderr, code := hk(t, root, nil, "export", "--version", "v1.37.2", "--author", author, "--to", repo, "--branch", "hk/series"); code != 0 {
		t.Fatalf("export branch: exit %d\n%s", code, stderr)
	}
	files, _ := filepath.Glob(filepath.Join(patches, "*.patch"))
	series, _ := filepath.Glob(filepath.Join(root, "patches", "v1.37", "*.patch"))
	if len(files) != len(series) {
		t.Fatalf("exported %d patches, the series has %d", len(files), len(series))
	}
	if got := git(t, repo, "rev-parse", "--abbrev-ref", "HEAD"); got != "hk/series" {
		t.Errorf("checked out %q, want hk/series", got)
	}
	authors := strings.Split(git(t, repo, "log", "--format=%an <%ae>", "upstream-v1.37.2..HEAD"), "\n")
	if len(authors) != len(series) {
		t.Fatalf("branch has %d commits on upstream, want %d", len(authors), len(series))
	}
	for _, a := range authors {
		if a != author {
			t.Errorf("commit author %q, want %q", a, author)
		}
	}
	check := filepath.Join(dest, "check")
	git(t, dest, "clone", "--quiet", "--no-checkout", repo, check)
	git(t, check, "checkout", "--quiet", "upstream-v1.37.2")
	git(t, check, append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "am", "--quiet"}, files...)...)
	if a, b := git(t, check, "rev-parse", "HEAD^{tree}"), git(t, repo, "rev-parse", "HEAD^{tree}"); a != b {
		t.Errorf("exported patches give tree %s, the exported branch has %s", a, b)
	}
}

func TestExportBadInput(t *testing.T) {
	root := fakeRoot(t)
	existing := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"author without a name", []string{"--author", "jane@example.org", "--to", "NEW"}, `--author "jane@example.org": want "Name <mail@example.org>"`},
		{"destination exists", []string{"--to", existing}, "already exists; export writes a new directory"},
		{"bad branch name", []string{"--to", "NEW", "--branch", "a..b"}, `"a..b" is not a valid branch name`},
		{"unknown patch", []string{"--to", "NEW", "--patches", "0099"}, `patch "0099" is not in`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "new")
			args := []string{"export", "--version", "v1.37.2"}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "NEW", dest))
			}
			stderr, code := hk(t, root, nil, args...)
			if code == 0 {
				t.Fatalf("expected a non-zero exit; stderr:\n%s", stderr)
			}
			if line := errorLine(t, stderr); !strings.Contains(line, tc.want) {
				t.Errorf("error line %q does not contain %q", line, tc.want)
			}
			if _, err := os.Stat(dest); err == nil {
				t.Errorf("%s was written although the export failed", dest)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".hk-export-*")); len(left) > 0 {
				t.Errorf("temporary directories left behind: %v", left)
			}
		})
	}
}
