package openapigen

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInputPackagesFollowsUpstreamMakefile(t *testing.T) {
	tree := t.TempDir()
	files := map[string]string{
		// Selected: a column-0 +k8s: tag that asks for openapi.
		"pkg/apis/abac/v1beta1/doc.go":            "// +k8s:openapi-gen=true\npackage v1beta1\n",
		"staging/src/k8s.io/api/core/v1/doc.go":   "// +k8s:deepcopy-gen=package\n// +k8s:openapi-gen=true\npackage v1\n",
		"staging/src/k8s.io/api/core/v1/types.go": "// +k8s:openapi-gen=true\npackage v1\n",
		"pkg/util/x/types.go":                     "// +k8s:deepcopy-gen=true\n\n// Note: +k8s:openapi-gen=false below\npackage x\n",
		// Not selected: no column-0 tag, another tag only, excluded trees, pruned directories.
		"pkg/indented/doc.go":                      "package indented\n\n\t// +k8s:openapi-gen=true\n",
		"pkg/deepcopy/doc.go":                      "// +k8s:deepcopy-gen=package\npackage deepcopy\n",
		"staging/src/k8s.io/code-generator/a/a.go": "// +k8s:openapi-gen=true\npackage a\n",
		"staging/src/k8s.io/sample-apiserver/b.go": "// +k8s:openapi-gen=true\npackage b\n",
		"vendor/github.com/x/y/y.go":               "// +k8s:openapi-gen=true\npackage y\n",
		"_output/local/z.go":                       "// +k8s:openapi-gen=true\npackage z\n",
		".hidden/h.go":                             "// +k8s:openapi-gen=true\npackage h\n",
		"pkg/notgo/doc.txt":                        "// +k8s:openapi-gen=true\n",
	}
	for name, body := range files {
		path := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := InputPackages(tree)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"k8s.io/api/core/v1", "k8s.io/kubernetes/pkg/apis/abac/v1beta1", "k8s.io/kubernetes/pkg/util/x"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("InputPackages (-want +got):\n%s", diff)
	}
}

func TestSameViolationsIgnoresOrderButNotContent(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	known := write("known", "API rule violation: a\nAPI rule violation: b\n")
	if err := sameViolations(write("same", "API rule violation: b\nAPI rule violation: a\n"), known); err != nil {
		t.Errorf("same set in another order: %v", err)
	}
	if err := sameViolations(write("fewer", "API rule violation: a\n"), known); err == nil {
		t.Error("a missing violation went unnoticed")
	}
	if err := sameViolations(write("any", "x\n"), filepath.Join(dir, "absent")); err != nil {
		t.Errorf("no known list (later releases): %v", err)
	}
}
