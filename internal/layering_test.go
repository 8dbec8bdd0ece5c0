// Package internal_test holds the rule of internal/'s layout: each group may import only the
// groups below it, so the arrows all point down.
package internal_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/hardened-hyperkube/hk/internal/"

// mayImport lists, for each group, the other groups its packages may import. A package may always
// import its own group's packages.
var mayImport = map[string][]string{
	"plumbing": {},
	"source":   {"plumbing"},
	"compile":  {"source", "plumbing"},
	"proof":    {"plumbing"},
	"kind":     {"compile", "source", "plumbing"},
	"upstream": {"kind", "compile", "source", "plumbing"},
	"publish":  {"compile", "source", "plumbing"},
	"diagnose": {"source", "plumbing"},
}

// Every package under internal/ sits in a group, one level down, and imports (directly) only
// what its group may: checked on `go list`'s view of the real imports, tests included.
func TestImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		group, pkg, ok := split(fields[0])
		if !ok {
			continue // internal/ itself (this test)
		}
		if _, known := mayImport[group]; !known {
			t.Errorf("%s is in %q, which is not a group (groups: plumbing, source, compile, proof, kind, upstream, publish, diagnose)", fields[0], group)
			continue
		}
		if pkg == "" {
			continue // the group's doc package
		}
		if strings.Count(pkg, "/") > 0 {
			t.Errorf("%s: packages sit one level under their group", fields[0])
		}
		checked++
		for _, imp := range fields[1:] {
			g, _, ok := split(imp)
			if !ok || g == group {
				continue
			}
			if !slices.Contains(mayImport[group], g) {
				t.Errorf("%s imports %s: %s may import only %v", fields[0], imp, group, mayImport[group])
			}
		}
	}
	if checked < 30 {
		t.Errorf("checked %d packages; go list found fewer than the tree holds", checked)
	}
}

// split returns the group and the package path below it of an internal import path.
func split(importPath string) (group, pkg string, ok bool) {
	rest, found := strings.CutPrefix(importPath, module)
	if !found {
		return "", "", false
	}
	group, pkg, _ = strings.Cut(rest, "/")
	return group, pkg, true
}
