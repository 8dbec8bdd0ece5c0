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
