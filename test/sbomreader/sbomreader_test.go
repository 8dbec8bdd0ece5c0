// Package sbomreader reads hk's SBOMs with a reader that is not hk's: protobom (OpenSSF), the
// library sigs.k8s.io/bom and others build on, which maps SPDX documents into its own graph of
// nodes and software identifiers. A module of its own, so hk does not link it.
package sbomreader

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/protobom/protobom/pkg/reader"
	"github.com/protobom/protobom/pkg/sbom"
)

const version = "v1.37.2"

// A scanner matching our hyperkube must find Kubernetes by its PURL and NVD's CPE, each staging
// module at its real version (not the v0.0.0 the build replaces it with), the Go standard library,
// and our series as a package containing the patches.
func TestAnotherReaderFindsWhatScannersMatch(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	bin := filepath.Join(root, "out", version, "hyperkube")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("HK_REQUIRE_BINARIES") == "1" {
			t.Fatalf("%s not built (run `make hyperkube`)", bin)
		}
		t.Skipf("%s not built (run `make hyperkube`)", bin)
	}
	cmd := exec.Command("go", "run", "./cmd/hk", "sbom", "--version", version, "--binary", bin)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "HK_QUIET=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hk sbom: %v", err)
	}
	path := filepath.Join(t.TempDir(), "hyperkube.spdx.json")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := reader.New().ParseFile(path)
	if err != nil {
		t.Fatalf("protobom cannot read hk's SBOM: %v", err)
	}
	if f := doc.GetMetadata().GetDocumentTypes(); doc.GetNodeList() == nil {
		t.Fatalf("no nodes (document types %v)", f)
	}
	byPURL, byCPE, byName := map[string]*sbom.Node{}, map[string]*sbom.Node{}, map[string]*sbom.Node{}
	for _, n := range doc.GetNodeList().GetNodes() {
		byName[n.GetName()] = n
		for typ, id := range n.GetIdentifiers() {
			switch sbom.SoftwareIdentifierType(typ) {
			case sbom.SoftwareIdentifierType_PURL:
				byPURL[id] = n
			case sbom.SoftwareIdentifierType_CPE23:
				byCPE[id] = n
			}
		}
	}
	k8s := byPURL["pkg:golang/k8s.io/kubernetes@"+version]
	if k8s == nil {
		t.Fatalf("no package with purl pkg:golang/k8s.io/kubernetes@%s among %d", version, len(byPURL))
	}
	if byCPE["cpe:2.3:a:kubernetes:kubernetes:"+strings.TrimPrefix(version, "v")+":*:*:*:*:*:*:*"] != k8s {
		t.Errorf("Kubernetes' CPE is not on its package (CPEs read: %v)", keys(byCPE))
	}
	for _, purl := range []string{"pkg:golang/k8s.io/api@v0.37.2", "pkg:golang/k8s.io/apiserver@v0.37.2", "pkg:golang/k8s.io/client-go@v0.37.2", "pkg:golang/stdlib@1.26.8"} {
		if byPURL[purl] == nil {
			t.Errorf("no package with purl %s", purl)
		}
	}
	for p := range byPURL {
		if strings.HasSuffix(p, "@v0.0.0") {
			t.Errorf("a module at the build's placeholder version: %s", p)
		}
	}
	series := byName["hardened-hyperkube-series"]
	if series == nil {
		t.Fatal("no package for our series")
	}
	contained := 0
	for _, e := range doc.GetNodeList().GetEdges() {
		if e.GetFrom() == series.GetId() && e.GetType() == sbom.Edge_contains {
			contained += len(e.GetTo())
		}
	}
	if contained != 13 {
		t.Errorf("the series package contains %d patches, want the 13 of patches/v1.37", contained)
	}
	t.Logf("protobom read %d nodes, %d PURLs, %d CPEs; the series contains %d patches", len(doc.GetNodeList().GetNodes()), len(byPURL), len(byCPE), contained)
}

func keys(m map[string]*sbom.Node) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
