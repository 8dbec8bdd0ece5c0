package conformance

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// listYAML is the shape of test/conformance/testdata/conformance.yaml: codenames wrapped over
// lines, trailing tags sorted.
const listYAML = `- testname: Pods, assigned hostip
  codename: '[sig-node] Pods should get a host IP [Conformance]
    [NodeConformance]'
  description: Create a Pod. Pod status MUST return successfully and contains a valid
    IP address.
  release: v1.9
  file: test/e2e/common/node/pods.go
- testname: Scheduler, node selector matching
  codename: '[sig-scheduling] SchedulerPredicates validates that NodeSelector is respected
    if matching [Conformance] [Serial]'
  description: x
  release: v1.9
  file: test/e2e/scheduling/predicates.go
- testname: Pods, assigned hostip, v2
  codename: '[sig-node] Pods should get a host IP twice (a made-up test) [Conformance]'
  description: x
  release: v1.99
  file: test/e2e/common/node/pods.go
`

// junitXML is what ginkgo's junit reporter writes for the e2e framework: "[It] " and the spec's
// full text, tags in the order the code gives them, every spec of the binary listed.
const junitXML = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" disabled="1" errors="0" failures="1" time="12.5">
  <testsuite name="Kubernetes e2e suite" package="/" tests="4" disabled="1" skipped="1" errors="0" failures="1" time="12.5">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="1.0"></testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="passed" time="4.2"></testcase>
    <testcase name="[It] [sig-scheduling] SchedulerPredicates validates that NodeSelector is respected if matching [Serial] [Conformance]" classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped"></skipped>
    </testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP twice (a made-up test) [Conformance]" classname="Kubernetes e2e suite" status="failed" time="7.3">
      <failure type="failed">[FAILED] Timed out after 300.000s.
more lines</failure>
    </testcase>
  </testsuite>
</testsuites>
`

func writeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, ListFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(listYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestKeyMatchesTheListAndTheReport(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"[sig-node] Pods should get a host IP [Conformance]\n    [NodeConformance]", "[sig-node] Pods should get a host IP [NodeConformance] [Conformance]"},
		{"[sig-api-machinery] AdmissionWebhook [Privileged:ClusterAdmin] listing   works [Conformance]", "[sig-api-machinery] AdmissionWebhook [Privileged:ClusterAdmin] listing works [Conformance]"},
	} {
		if Key(c.a) != Key(c.b) {
			t.Errorf("Key(%q) = %q, Key(%q) = %q: want equal", c.a, Key(c.a), c.b, Key(c.b))
		}
	}
	// ginkgo keeps [Serial] where the code declares it; the list moves it to the end.
	if Key("[sig-x] A [Serial] b [Conformance]") != Key("[sig-x] A b [Conformance] [Serial]") {
		t.Error("a tag's place changed the key")
	}
	if Key("[sig-x] A b [Conformance]") == Key("[sig-x] A b c [Conformance]") {
		t.Error("different words, same key")
	}
}

func TestFocusSelectsExactlyTheGivenTests(t *testing.T) {
	tests, err := List(writeTree(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) != 3 || !tests[1].Serial() || tests[0].Serial() {
		t.Fatalf("List = %+v", tests)
	}
	focus := regexp.MustCompile(Focus(tests[:2]))
	// ginkgo matches the suite's description, a space and the spec's text.
	for _, text := range []string{
		"Kubernetes e2e suite [sig-node] Pods should get a host IP [NodeConformance] [Conformance]",
		"Kubernetes e2e suite [sig-scheduling] SchedulerPredicates [Serial] validates that NodeSelector is respected if matching [Conformance]",
	} {
		if !focus.MatchString(text) {
			t.Errorf("focus does not match %q", text)
		}
	}
	// A test whose text starts with the selected one's is not selected.
	for _, text := range []string{
		"Kubernetes e2e suite [sig-node] Pods should get a host IP twice (a made-up test) [Conformance]",
		"Kubernetes e2e suite [sig-node] Other Pods should get a host IP [Conformance]",
		"Kubernetes e2e suite [sig-apps] Pods should get a host IP [Conformance]",
	} {
		if focus.MatchString(text) {
			t.Errorf("focus %q matches another test's text %q", focus, text)
		}
	}
	if _, err := Select(tests, []string{"[sig-node] Pods should not exist [Conformance]"}); err == nil ||
		!strings.Contains(err.Error(), "is not in the tree's") {
		t.Errorf("Select of an unknown test: %v", err)
	}
}

func TestSummarizeCountsEveryWantedTest(t *testing.T) {
	tests, err := List(writeTree(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "junit_01.xml"), []byte(junitXML), 0o644); err != nil {
		t.Fatal(err)
	}
	parallel, err := ReadJUnit(filepath.Join(dir, "junit_01.xml"))
	if err != nil {
		t.Fatal(err)
	}
	// The serial part ran the test the parallel part skipped.
	serial := []Result{{Name: "[It] [sig-scheduling] SchedulerPredicates validates that NodeSelector is respected if matching [Serial] [Conformance]", Status: "passed"}}
	for i := range serial {
		serial[i].Name = strings.TrimPrefix(serial[i].Name, "[It] ")
	}
	s := Summarize(tests, parallel, serial)
	got := []int{s.Wanted, s.Passed, s.Failed, s.Skipped, s.NotRun}
	if diff := cmp.Diff([]int{3, 2, 1, 0, 0}, got); diff != "" {
		t.Errorf("wanted/passed/failed/skipped/not run (-want +got):\n%s", diff)
	}
	if len(s.NonPass) != 1 || s.NonPass[0].Message != "[FAILED] Timed out after 300.000s." {
		t.Errorf("NonPass = %+v", s.NonPass)
	}
	// Without the serial part the serial test is skipped, and a missing test is "not run".
	s = Summarize(append(tests, Test{Codename: "[sig-x] never ran [Conformance]"}), parallel)
	if s.Skipped != 1 || s.NotRun != 1 || len(s.NonPassKeys()) != 3 {
		t.Errorf("summary without the serial part: %+v", s)
	}
}

func TestManifestImagesReadsTheTreesTags(t *testing.T) {
	dir := t.TempDir()
	src := `	configs[Agnhost] = Config{list.PromoterE2eRegistry, "agnhost", "2.66.1"}
	configs[Pause] = Config{list.GcRegistry, "pause", "3.10.2"}
`
	p := filepath.Join(dir, manifestFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	refs, err := ManifestImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ImageRef{
		"Agnhost": {ID: "Agnhost", Registry: "PromoterE2eRegistry", Name: "agnhost", Version: "2.66.1"},
		"Pause":   {ID: "Pause", Registry: "GcRegistry", Name: "pause", Version: "3.10.2"},
	}
	if diff := cmp.Diff(want, refs); diff != "" {
		t.Errorf("ManifestImages (-want +got):\n%s", diff)
	}
}
