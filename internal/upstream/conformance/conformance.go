// Package conformance runs upstream Kubernetes's conformance suite, built offline from a pinned
// tree, against a kind cluster: e2e.test and ginkgo compiled from the tree (BuildSuite), the images
// the tests run, built from the tree's test/images sources and Debian's packages (BuildImages),
// and ginkgo's parallel part then its serial part, each writing upstream's reports, e2e.log and
// junit_01.xml (Run), summed up against the tree's list of conformance tests (Summarize).
package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// ListFile is the tree's list of conformance tests, which upstream keeps in step with the code.
const ListFile = "test/conformance/testdata/conformance.yaml"

// Test is one entry of ListFile.
type Test struct {
	Name     string `json:"testname"`
	Codename string `json:"codename"` // the spec's full text, as ginkgo names it
	File     string `json:"file"`
}

// Serial reports whether the test runs in the serial part (alone on the cluster).
func (t Test) Serial() bool { return strings.Contains(t.Codename, "[Serial]") }

// Key is the test's identity across ListFile and a junit report.
func (t Test) Key() string { return Key(t.Codename) }

// List reads the tree's conformance tests.
func List(tree string) ([]Test, error) {
	data, err := os.ReadFile(filepath.Join(tree, ListFile))
	if err != nil {
		return nil, err
	}
	var tests []Test
	if err := yaml.Unmarshal(data, &tests); err != nil {
		return nil, fmt.Errorf("%s: %w", ListFile, err)
	}
	if len(tests) == 0 {
		return nil, fmt.Errorf("%s lists no tests", ListFile)
	}
	return tests, nil
}

var (
	spaces = regexp.MustCompile(`\s+`)
	tag    = regexp.MustCompile(`\[[^\[\]]+\]`)
)

// Key normalizes a spec's text: its words in order, then its bracketed tags ("[sig-node]",
// "[Serial]", "[Conformance]") sorted. ListFile and ginkgo do not place the tags alike (the list
// moves [Serial] to the end and sorts, ginkgo's text keeps it where the code declares it).
func Key(name string) string {
	words, tags := splitTags(name)
	sort.Strings(tags)
	return strings.Join(append(words, tags...), " ")
}

// splitTags returns a spec's words without its tags, and the tags.
func splitTags(name string) (words, tags []string) {
	tags = tag.FindAllString(name, -1)
	return strings.Fields(tag.ReplaceAllString(spaces.ReplaceAllString(name, " "), " ")), tags
}

// Focus is a ginkgo focus regexp that matches exactly the given tests: each one's leading tag
// ("[sig-node]") where a text starts, then its words in order with its other tags allowed
// anywhere between them, to the end of the text. ginkgo matches it against the suite's
// description, a space and the spec's text.
func Focus(tests []Test) string {
	const tagsBetween = `(?:\s+\[[^\]]+\])*\s+`
	var parts []string
	for _, t := range tests {
		words, _ := splitTags(t.Codename)
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = regexp.QuoteMeta(w)
		}
		lead := `(?:^|\s)`
		if first := tag.FindStringIndex(strings.TrimSpace(t.Codename)); first != nil && first[0] == 0 {
			lead += regexp.QuoteMeta(tag.FindString(strings.TrimSpace(t.Codename))) + tagsBetween
		}
		parts = append(parts, lead+strings.Join(quoted, tagsBetween)+`(?:\s*\[[^\]]+\])*\s*$`)
	}
	sort.Strings(parts)
	return strings.Join(parts, "|")
}

// Smoke is make conformance-smoke's fixed sample, across the SIGs (API machinery, apps, auth,
// CLI, network with DNS, node, storage, scheduling), each also exercising one of the images
// BuildImages makes: it fits make test's budget and breaks where the whole suite would.
var Smoke = []string{
	"[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] Simple CustomResourceDefinition creating/deleting custom resource definition objects works [Conformance]",
	"[sig-api-machinery] Aggregator Should be able to support the 1.17 Sample API Server using the current Aggregator [LinuxOnly] [Conformance]",
	"[sig-apps] Deployment deployment should support rollover [Conformance]",
	"[sig-auth] ServiceAccounts should mount an API token into pods [Conformance]",
	"[sig-cli] Kubectl client Kubectl version should check is all data is printed [Conformance]",
	"[sig-network] DNS should provide DNS for services [Conformance]",
	"[sig-network] Services should serve a basic endpoint from pods [Conformance]",
	"[sig-network] Networking Granular Checks: Pods should function for intra-pod communication: http [Conformance] [NodeConformance]",
	"[sig-node] Pods should get a host IP [Conformance] [NodeConformance]",
	"[sig-node] Security Context When creating a container with runAsUser should run the container with uid 65534 [LinuxOnly] [Conformance] [NodeConformance]",
	"[sig-node] Container Lifecycle Hook when create a pod with lifecycle hook should execute poststart http hook properly [Conformance] [NodeConformance]",
	"[sig-storage] ConfigMap should be consumable from pods in volume [Conformance] [NodeConformance]",
	"[sig-storage] Secrets should be consumable from pods in volume [Conformance] [NodeConformance]",
	"[sig-scheduling] SchedulerPredicates validates that NodeSelector is respected if matching [Conformance] [Serial]",
}

// Select returns the tests of all whose keys are in names, failing on a name the list lacks (a
// sample that silently shrank would prove less than it says).
func Select(all []Test, names []string) ([]Test, error) {
	byKey := map[string]Test{}
	for _, t := range all {
		byKey[t.Key()] = t
	}
	var out []Test
	for _, n := range names {
		t, ok := byKey[Key(n)]
		if !ok {
			return nil, fmt.Errorf("%q is not in the tree's %s", n, ListFile)
		}
		out = append(out, t)
	}
	return out, nil
}

// Explained are the conformance tests known not to pass on our kind clusters, by Key, with the
// reason and its evidence: make conformance fails on any other test that does not pass.
var Explained = map[string]string{
	Key("[sig-node] ImageVolume should succeed with pod and pull policy of Always [LinuxOnly] [MinimumKubeletVersion:1.35] [Conformance]"): "the node's containerd is Debian bookworm's 1.6.20, " +
		"which has no CRI image volumes (containerd 2.1 added them; kindest/node ships containerd 2.x): the image is pulled from our registry, " +
		`then "failed to generate container spec: failed to apply OCI options: failed to mkdir \"\"" on both builds`,
}
