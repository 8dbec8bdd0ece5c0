package upstreamtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A test2json stream as a test binary of upstream's writes it: subtests, output lines, a line
// printed outside the framing, and the package's own verdict.
const sampleJSON = `{"Action":"start","Package":"k8s.io/kubernetes/test/integration/service"}
{"Action":"run","Test":"TestA"}
{"Action":"run","Test":"TestA/sub"}
{"Action":"fail","Test":"TestA/sub","Elapsed":0.1}
{"Action":"pass","Test":"TestA","Elapsed":1.5}
{"Action":"skip","Test":"TestB","Elapsed":0}
{"Action":"fail","Test":"TestC","Elapsed":2}
I1207 02:00:00.000000 1 etcd.go:90] not JSON
{"Action":"pass","Test":"TestNew","Elapsed":3}
{"Action":"fail","Elapsed":42.5}
`

func TestReadTestJSONCountsTopLevelTests(t *testing.T) {
	c, err := ReadTestJSON(strings.NewReader(sampleJSON))
	if err != nil {
		t.Fatal(err)
	}
	if c.Pass != 2 || c.Fail != 1 || c.Skip != 1 || !c.PackageFailed || c.Elapsed != 42.5 {
		t.Fatalf("counted %+v", c)
	}
}

func TestCompareFindsRegressionsAndTheSeriesOwnTests(t *testing.T) {
	unpatched := TestCount{Tests: map[string]string{"TestA": "pass", "TestB": "skip", "TestGone": "pass", "TestFlaky": "fail"}}
	patched := TestCount{Tests: map[string]string{"TestA": "fail", "TestB": "skip", "TestNew": "pass", "TestFlaky": "pass"}}
	c := Compare("service", unpatched, patched)
	if strings.Join(c.Regressions, ",") != "TestA,TestGone (gone)" || strings.Join(c.SeriesOnly, ",") != "TestNew" ||
		strings.Join(c.Failing, ",") != "TestFlaky" || c.Same() {
		t.Fatalf("compare: %+v", c)
	}
	same := Compare("service", TestCount{Tests: map[string]string{"TestA": "pass"}}, TestCount{Tests: map[string]string{"TestA": "pass", "TestNew": "pass"}})
	if !same.Same() {
		t.Fatalf("a run that only adds a passing test is not the same: %+v", same)
	}
	broken := Compare("service", TestCount{Tests: map[string]string{"TestA": "pass"}}, TestCount{Tests: map[string]string{"TestA": "pass", "TestNew": "fail"}})
	if broken.Same() {
		t.Fatalf("a failing test of the series' own counted as the same")
	}
}

func TestTrimpathSourcesLinkEveryModuleUnderItsTrimmedPath(t *testing.T) {
	tree := t.TempDir()
	for _, d := range []string{"cmd/kube-apiserver/app/testing", "staging/src/k8s.io/apiserver/pkg/server", "staging/src/k8s.io/apiextensions-apiserver"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := trimpathSources(tree, filepath.Join(t.TempDir(), "srcdir"))
	if err != nil {
		t.Fatal(err)
	}
	// What upstream's test servers join: $TEST_SRCDIR/$TEST_WORKSPACE/<trimmed file path>.
	for trimmed, want := range map[string]string{
		"k8s.io/kubernetes/cmd/kube-apiserver/app/testing": "cmd/kube-apiserver/app/testing",
		"k8s.io/apiserver@v0.0.0/pkg/server":               "staging/src/k8s.io/apiserver/pkg/server",
		"k8s.io/apiserver/pkg/server":                      "staging/src/k8s.io/apiserver/pkg/server",
	} {
		got, err := filepath.EvalSymlinks(filepath.Join(dir, trimpathWorkspace, trimmed))
		if err != nil {
			t.Fatalf("%s: %v", trimmed, err)
		}
		if wantPath, _ := filepath.EvalSymlinks(filepath.Join(tree, want)); got != wantPath {
			t.Errorf("%s resolves to %s, want %s", trimmed, got, wantPath)
		}
	}
	// A second run starts over (the tree may have moved).
	if _, err := trimpathSources(tree, dir); err != nil {
		t.Fatalf("second run: %v", err)
	}
}
