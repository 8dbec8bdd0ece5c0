package vuln

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What reachability shows becomes not_affected; what is called needs a person's statement, and
// without one the vulnerability is returned as missing, never written as not_affected.
func TestMakeVEX(t *testing.T) {
	r := &Report{Scanner: "golang.org/x/vuln@v1.9.0", Database: "golang.org/x/vulndb@v0.0.0-x", DatabaseDate: time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC),
		Findings: []Finding{
			{ID: "GO-1", Module: "stdlib", Version: "v1.26.8", Level: Called},
			{ID: "GO-2", Module: "golang.org/x/net", Version: "v0.1.0", Level: Called},
			{ID: "GO-3", Module: "golang.org/x/net", Version: "v0.1.0", Level: Imported, Aliases: []string{"CVE-3"}},
			{ID: "GO-4", Module: "google.golang.org/grpc", Version: "v1.82.1", Level: Required},
		}}
	stmts := []Statement{{Vulnerability: "GO-1", Lines: []string{"*"}, Status: Affected, Action: "rebuild with Go 1.26.10"},
		{Vulnerability: "GO-2", Lines: []string{"v1.36"}, Status: NotAffected, Justification: "inline_mitigations_already_exist"}}
	doc, missing := MakeVEX(r, stmts, "pkg:golang/k8s.io/kubernetes@v1.37.2", "v1.37", "urn:x")
	if strings.Join(missing, ",") != "GO-2" {
		t.Errorf("missing %v, want GO-2 (its statement is for v1.36 only)", missing)
	}
	got := map[string]VEXStatement{}
	for _, s := range doc.Statements {
		got[s.Vulnerability.Name] = s
	}
	if s := got["GO-1"]; s.Status != Affected || s.Action != "rebuild with Go 1.26.10" || s.Products[0].Subcomponents[0].ID != "pkg:golang/stdlib@1.26.8" {
		t.Errorf("GO-1: %+v", s)
	}
	if _, ok := got["GO-2"]; ok {
		t.Errorf("GO-2 was written without a statement")
	}
	for _, id := range []string{"GO-3", "GO-4"} {
		if s := got[id]; s.Status != NotAffected || s.Justification != NotInExecutePath || s.Products[0].ID != "pkg:golang/k8s.io/kubernetes@v1.37.2" {
			t.Errorf("%s: %+v", id, s)
		}
	}
	if got["GO-3"].Vulnerability.Aliases[0] != "CVE-3" || !doc.Timestamp.Equal(r.DatabaseDate) {
		t.Errorf("aliases or timestamp lost: %+v", doc)
	}
}

func TestLoadStatementsRefusesIncompleteOnes(t *testing.T) {
	for _, bad := range []string{
		`[{"vulnerability":"GO-1","lines":["*"],"status":"affected"}]`,
		`[{"vulnerability":"GO-1","lines":["*"],"status":"not_affected"}]`,
		`[{"vulnerability":"GO-1","lines":["*"],"status":"fine"}]`,
		`[{"vulnerability":"GO-1","status":"fixed"}]`,
	} {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "build"), 0o755)
		os.WriteFile(filepath.Join(root, StatementsFile), []byte(bad), 0o644)
		if _, err := LoadStatements(root); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
