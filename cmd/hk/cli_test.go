package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var (
	hkBinary string
	// sharedTrees holds materialized trees for every fake root: they depend only on the pins,
	// and a bad pin fails before anything is written.
	sharedTrees string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hk-cli-test-")
	if err != nil {
		panic(err)
	}
	hkBinary = filepath.Join(dir, "hk")
	sharedTrees = filepath.Join(dir, "trees")
	os.Setenv("HK_CACHE_DIR", filepath.Join(dir, "cache")) // the machine's cache stays untouched
	if out, err := exec.Command("go", "build", "-o", hkBinary, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fakeRoot copies the repository's pins and patches into a temporary root, so a test can break
// them without touching the real ones and its out/ starts empty.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, dir := range []string{"build", "patches"} {
		if out, err := exec.Command("cp", "-r", filepath.Join("..", "..", dir), root).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v: %s", dir, err, out)
		}
	}
	if err := os.MkdirAll(sharedTrees, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sharedTrees, filepath.Join(root, "out", "trees")); err != nil {
		t.Fatal(err)
	}
	return root
}

// hk runs the CLI in root and returns stderr and the exit code.
func hk(t *testing.T, root string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(hkBinary, args...)
	cmd.Env = append(append(os.Environ(), "HK_ROOT="+root), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stderr.String(), code
}

// errorLine returns the one line hk printed for a failure, ignoring progress lines.
func errorLine(t *testing.T, stderr string) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "hk ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("expected exactly one error line, got %d in:\n%s", len(lines), stderr)
	}
	return lines[0]
}

// assertNoOutputs checks that a failed build left no output directory and no temporary one.
func assertNoOutputs(t *testing.T, root string) {
	t.Helper()
	for _, pattern := range []string{"out/v1.*", "out/.v1.*", "out/trees/*/.pristine-*", "out/etcd/*/*.tmp"} {
		if m, _ := filepath.Glob(filepath.Join(root, pattern)); len(m) > 0 {
			t.Errorf("a failed run left %v", m)
		}
	}
}

func TestBuildRejectsBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("materializes a Kubernetes tree")
	}
	goDir := filepath.Dir(mustLookPath(t, "go"))
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		env   []string
		args  []string
		want  []string // substrings of the error line
	}{
		{
			name: "unknown version",
			args: []string{"build", "--version", "v1.99.0"},
			want: []string{"unknown version v1.99.0", "hk pin v1.99.0"},
		},
		{
			name: "not a version",
			args: []string{"build", "--version", "latest"},
			want: []string{`"latest" is not a Kubernetes release version`},
		},
		{
			name: "unknown target",
			args: []string{"build", "--target", "kube-foo"},
			want: []string{`unknown target "kube-foo" for v1.37.2`, "hyperkube, kube-apiserver"},
		},
		{
			name: "unknown patch number",
			args: []string{"build", "--patches", "0099"},
			want: []string{`patch "0099" is not in`},
		},
		{
			name: "tampered module",
			setup: func(t *testing.T, root string) {
				editPins(t, root, func(p map[string]any) {
					staging := p["staging"].([]any)
					staging[0].(map[string]any)["sum"] = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
				})
			},
			args: []string{"build"},
			want: []string{"k8s.io/api@v0.37.2 does not match its pin", "h1:AAAA"},
		},
		{
			name: "git missing",
			env:  []string{"PATH=" + goDir},
			args: []string{"build"},
			want: []string{"git is required but not found on PATH"},
		},
		{
			name: "hunk does not apply",
			setup: func(t *testing.T, root string) {
				editPatch(t, root, "0001-", func(s string) string {
					// Change a context line of the first hunk of config_selfclient.go.
					return strings.Replace(s, "\n // LoopbackHostPort returns the host and port loopback REST clients should use\n-// to contact the server.\n",
						"\n // LoopbackHostPort returns the host and port loopback clients should use\n-// to contact the server.\n", 1)
				})
			},
			args: []string{"build"},
			want: []string{"patch 0001-apiserver-never-resolve-a-name-for-the-loopback-client.patch does not apply",
				"staging/src/k8s.io/apiserver/pkg/server/config_selfclient.go: hunk #1 (@@ -63,7 +63,8 @@)"},
		},
		{
			name: "corrupt patch",
			setup: func(t *testing.T, root string) {
				editPatch(t, root, "0002-", func(s string) string { return s[:len(s)/2] + "\n@@ garbage @@\n" })
			},
			args: []string{"build"},
			want: []string{"patch 0002-", "does not apply", "corrupt patch"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeRoot(t)
			if tc.setup != nil {
				tc.setup(t, root)
			}
			stderr, code := hk(t, root, tc.env, tc.args...)
			if code == 0 {
				t.Fatalf("expected a non-zero exit; stderr:\n%s", stderr)
			}
			line := errorLine(t, stderr)
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("error line %q does not contain %q", line, w)
				}
			}
			assertNoOutputs(t, root)
		})
	}
}

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not on PATH", name)
	}
	return p
}

func editPins(t *testing.T, root string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(root, "build", "versions", "v1.37.2.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	edit(p)
	if data, err = json.Marshal(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func editPatch(t *testing.T, root, prefix string, edit func(string) string) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(root, "patches", "v1.37", prefix+"*.patch"))
	if len(matches) != 1 {
		t.Fatalf("want one patch %s*, found %v", prefix, matches)
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	edited := edit(string(data))
	if edited == string(data) {
		t.Fatal("the edit changed nothing; the patch no longer has the expected text")
	}
	if err := os.WriteFile(matches[0], []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownCommand(t *testing.T) {
	stderr, code := hk(t, t.TempDir(), nil, "frobnicate")
	if code == 0 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("got code %d, stderr %q", code, stderr)
	}
}
