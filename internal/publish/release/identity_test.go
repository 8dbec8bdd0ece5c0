package release

import (
	"os"
	"path/filepath"
	"testing"
)

// The newest CHANGELOG entry of a version names the release; another version's never does.
func TestIdentityFromTheChangelog(t *testing.T) {
	root := t.TempDir()
	changelog := "# Changelog\n\n## v1.36.3-hk.2\n\nrebuilt with Go 1.26.10\n\n## v1.36.3-hk.1\n\n## v1.36.1-hk.1\n"
	if err := os.WriteFile(filepath.Join(root, "CHANGELOG.md"), []byte(changelog), 0o644); err != nil {
		t.Fatal(err)
	}
	for version, want := range map[string]string{"v1.36.3": "v1.36.3-hk.2", "v1.36.1": "v1.36.1-hk.1", "v1.36.30": "", "v1.37.2": ""} {
		if got := Identity(root, version); got != want {
			t.Errorf("Identity(%s) = %q, want %q", version, got, want)
		}
	}
	if got := Identity(t.TempDir(), "v1.36.3"); got != "" {
		t.Errorf("no CHANGELOG: %q", got)
	}
}
