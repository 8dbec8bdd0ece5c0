package vuln

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// StatementsFile holds the statements people make about vulnerabilities the scanner finds called,
// relative to the repository root.
const StatementsFile = "build/vex.json"

// OpenVEX statuses and the justification reachability gives.
const (
	Affected         = "affected"
	NotAffected      = "not_affected"
	Fixed            = "fixed"
	NotInExecutePath = "vulnerable_code_not_in_execute_path"
)

// Statement is a person's word on one vulnerability for some release lines.
type Statement struct {
	Vulnerability string   `json:"vulnerability"` // GO-YYYY-NNNN
	Lines         []string `json:"lines"`         // minors ("v1.37"), or "*" for every line
	Status        string   `json:"status"`
	Justification string   `json:"justification,omitempty"`
	Impact        string   `json:"impact_statement,omitempty"`
	Action        string   `json:"action_statement,omitempty"`
}

// LoadStatements reads build/vex.json (none is no statements).
func LoadStatements(root string) ([]Statement, error) {
	data, err := os.ReadFile(filepath.Join(root, StatementsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var s []Statement
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", StatementsFile, err)
	}
	for _, st := range s {
		switch {
		case st.Vulnerability == "" || len(st.Lines) == 0:
			return nil, fmt.Errorf("%s: a statement needs a vulnerability and lines: %+v", StatementsFile, st)
		case st.Status == Affected && st.Action == "":
			return nil, fmt.Errorf("%s: %s is affected: say what to do (action_statement)", StatementsFile, st.Vulnerability)
		case st.Status == NotAffected && st.Justification == "" && st.Impact == "":
			return nil, fmt.Errorf("%s: %s is not_affected: say why (justification or impact_statement)", StatementsFile, st.Vulnerability)
		case st.Status != Affected && st.Status != NotAffected && st.Status != Fixed && st.Status != "under_investigation":
			return nil, fmt.Errorf("%s: %s: status %q is not an OpenVEX status", StatementsFile, st.Vulnerability, st.Status)
		}
	}
	return s, nil
}

func statementFor(stmts []Statement, id, line string) *Statement {
	for i, s := range stmts {
		if s.Vulnerability == id && (slices.Contains(s.Lines, line) || slices.Contains(s.Lines, "*")) {
			return &stmts[i]
		}
	}
	return nil
}

// VEX is an OpenVEX v0.2.0 document.
type VEX struct {
	Context    string         `json:"@context"`
	ID         string         `json:"@id"`
	Author     string         `json:"author"`
	Timestamp  time.Time      `json:"timestamp"`
	Version    int            `json:"version"`
	Tooling    string         `json:"tooling"`
	Statements []VEXStatement `json:"statements"`
}

// VEXStatement is one statement of an OpenVEX document.
type VEXStatement struct {
	Vulnerability struct {
		Name    string   `json:"name"`
		Aliases []string `json:"aliases,omitempty"`
	} `json:"vulnerability"`
	Products      []VEXProduct `json:"products"`
	Status        string       `json:"status"`
	Justification string       `json:"justification,omitempty"`
	Impact        string       `json:"impact_statement,omitempty"`
	Action        string       `json:"action_statement,omitempty"`
}

// VEXProduct is a product by PURL, with the component of it the statement is about.
type VEXProduct struct {
	ID            string         `json:"@id"`
	Subcomponents []VEXComponent `json:"subcomponents,omitempty"`
}

// VEXComponent is a component by PURL.
type VEXComponent struct {
	ID string `json:"@id"`
}

// MakeVEX writes the release's OpenVEX document from the source scan (reachability) and people's
// statements: a statement where someone made one, otherwise not_affected with
// vulnerable_code_not_in_execute_path for what the hyperkube does not call. A called
// vulnerability nobody made a statement about cannot be shipped: it is returned in missing.
// product is the PURL the SBOMs give the release (pkg:golang/k8s.io/kubernetes@v1.37.2); line its
// minor; id names the document; the database's date stamps it, so the same inputs give the same
// document.
func MakeVEX(source *Report, stmts []Statement, product, line, id string) (doc *VEX, missing []string) {
	doc = &VEX{Context: "https://openvex.dev/ns/v0.2.0", ID: id, Author: "hardened hyperkube release (hk release)",
		Timestamp: source.DatabaseDate, Version: 1, Tooling: source.Scanner + " with " + source.Database}
	for _, f := range source.Findings {
		var st VEXStatement
		st.Vulnerability.Name, st.Vulnerability.Aliases = f.ID, f.Aliases
		st.Products = []VEXProduct{{ID: product, Subcomponents: []VEXComponent{{ID: modulePURL(f.Module, f.Version)}}}}
		if s := statementFor(stmts, f.ID, line); s != nil {
			st.Status, st.Justification, st.Impact, st.Action = s.Status, s.Justification, s.Impact, s.Action
		} else if f.Level == Called {
			missing = append(missing, f.ID)
			continue
		} else {
			st.Status, st.Justification = NotAffected, NotInExecutePath
			st.Impact = fmt.Sprintf("govulncheck in source mode finds no call path from cmd/hyperkube to the vulnerable functions; the hyperkube %s",
				map[string]string{Imported: "imports the vulnerable package", Required: "only requires the module"}[f.Level])
		}
		doc.Statements = append(doc.Statements, st)
	}
	sort.Strings(missing)
	return doc, missing
}

func modulePURL(module, version string) string {
	if module == "stdlib" || module == "toolchain" {
		return "pkg:golang/stdlib@" + strings.TrimPrefix(version, "v")
	}
	return "pkg:golang/" + module + "@" + version
}
