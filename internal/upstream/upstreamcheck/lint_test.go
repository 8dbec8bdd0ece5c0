package upstreamcheck

import (
	"strings"
	"testing"
)

// The shape of upstream's hack/golangci.yaml around the plugin linters.
const upstreamConfig = `version: "2"
linters:
  default: none
  enable: # please keep this alphabetized
    - depguard
    - kubeapilinter
    - logcheck
    - revive
    - sorted
    - unused

  settings: # please keep this alphabetized
    custom:
      logcheck:
        path: _output/local/bin/logcheck.so
        settings:
          config: |
            structured k8s.io/kubernetes/pkg/.*

      sorted:
        path: _output/local/bin/sorted.so
    depguard:
      rules:
        main:
          deny:
            - pkg: "io/ioutil"
`

func TestWithoutPluginLinters(t *testing.T) {
	got := string(withoutPluginLinters([]byte(upstreamConfig)))
	for _, gone := range []string{"kubeapilinter", "logcheck", "sorted", "custom:", ".so"} {
		if strings.Contains(got, gone) {
			t.Errorf("%q is still in the configuration:\n%s", gone, got)
		}
	}
	for _, kept := range []string{"    - depguard\n", "    - revive\n", "    - unused\n", "    depguard:\n", `            - pkg: "io/ioutil"`} {
		if !strings.Contains(got, kept) {
			t.Errorf("%q was dropped:\n%s", kept, got)
		}
	}
}

func TestByModule(t *testing.T) {
	got := byModule([]string{
		"./pkg/registry/core/rest",
		"./staging/src/k8s.io/apiserver/pkg/server",
		"./pkg/registry/rbac/rest",
		"./staging/src/k8s.io/apiserver",
		"./staging/src/k8s.io/client-go/rest",
	})
	want := []module{
		{dir: "", dirs: []string{"./pkg/registry/core/rest", "./pkg/registry/rbac/rest"}},
		{dir: "staging/src/k8s.io/apiserver", dirs: []string{"./pkg/server", "."}},
		{dir: "staging/src/k8s.io/client-go", dirs: []string{"./rest"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d modules %+v, want %+v", len(got), got, want)
	}
	for i := range want {
		if got[i].dir != want[i].dir || strings.Join(got[i].dirs, " ") != strings.Join(want[i].dirs, " ") {
			t.Errorf("module %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
