package upstreamtest

import (
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
