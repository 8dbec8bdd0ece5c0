package series

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeSeries(t *testing.T, names ...string) string {
	t.Helper()
	root := t.TempDir()
	dir := Dir(root, "v1.37")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestSelect(t *testing.T) {
	root := writeSeries(t, "0002-b.patch", "0001-a.patch", "0003-c.patch", "README.md")
	tests := []struct {
		selection string
		want      []string
		label     string
		err       string
	}{
		{selection: All, want: []string{"0001", "0002", "0003"}, label: ""},
		{selection: None, want: nil, label: "unpatched"},
		{selection: "0003,0002", want: []string{"0002", "0003"}, label: "p0002-0003"},
		{selection: "0002,0002", want: []string{"0002"}, label: "p0002"},
		{selection: "0004", err: `patch "0004" is not in`},
	}
	for _, tc := range tests {
		t.Run(tc.selection, func(t *testing.T) {
			s, err := Select(root, "v1.37", tc.selection)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want error %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range s.Patches {
				got = append(got, p.Number)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("patches (-want +got):\n%s", diff)
			}
			if l := s.Label(root); l != tc.label {
				t.Errorf("label %q, want %q", l, tc.label)
			}
		})
	}
}

func TestDigestChangesWithContent(t *testing.T) {
	root := writeSeries(t, "0001-a.patch")
	a, _ := Select(root, "v1.37", All)
	if err := os.WriteFile(filepath.Join(Dir(root, "v1.37"), "0001-a.patch"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := Select(root, "v1.37", All)
	if a.Digest() == b.Digest() {
		t.Error("digest did not change with the patch content")
	}
}

func TestFindHunk(t *testing.T) {
	patch := filepath.Join(t.TempDir(), "p.patch")
	text := "diff --git a/x.go b/x.go\n@@ -1,3 +1,4 @@\n ctx\n@@ -40,6 +41,7 @@ func f() {\n ctx\n" +
		"diff --git a/y.go b/y.go\n@@ -40,2 +40,2 @@\n"
	if err := os.WriteFile(patch, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, h := findHunk(patch, "x.go", 40); n != 2 || h != "@@ -40,6 +41,7 @@" {
		t.Errorf("findHunk = %d %q", n, h)
	}
	if n, _ := findHunk(patch, "y.go", 40); n != 1 {
		t.Errorf("findHunk y.go = %d, want 1", n)
	}
}

func TestSelectNoLoopbackFix(t *testing.T) {
	root := t.TempDir()
	dir := Dir(root, "v1.37")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	touches := func(file string) string {
		return "diff --git a/" + file + " b/" + file + "\n"
	}
	for name, content := range map[string]string{
		"0001-never-a-name.patch":  touches("staging/src/k8s.io/apiserver/pkg/server/config_selfclient.go"),
		"0002-prefer-ipv4.patch":   touches("staging/src/k8s.io/apiserver/pkg/server/config_selfclient_unix.go"),
		"0003-hooks.patch":         touches("staging/src/k8s.io/apiserver/pkg/server/hooks.go"),
		"0004-repair-retry.patch":  touches("pkg/registry/core/rest/storage_core.go"),
		"0005-mentions-only.patch": "Refs config_selfclient.go in the message\n" + touches("pkg/registry/rbac/rest/storage_rbac.go"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Select(root, "v1.37", NoLoopbackFix)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range s.Patches {
		got = append(got, p.Number)
	}
	if diff := cmp.Diff([]string{"0003", "0004", "0005"}, got); diff != "" {
		t.Errorf("patches (-want +got):\n%s", diff)
	}
	if l := s.Label(root); l != NoLoopbackFix {
		t.Errorf("label %q, want %q", l, NoLoopbackFix)
	}

	// A series without the loopback fix has nothing to leave out: say so rather than build it all.
	other := writeSeries(t, "0001-a.patch")
	if _, err := Select(other, "v1.37", NoLoopbackFix); err == nil || !strings.Contains(err.Error(), "selects the whole series") {
		t.Errorf("want an error for a series that does not touch the loopback client, got %v", err)
	}
}
