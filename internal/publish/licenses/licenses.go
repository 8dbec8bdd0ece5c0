// Package licenses finds the licence of every Go module linked into a binary with Google's
// licenseclassifier, sorts each into the classes go-licenses uses, and refuses the classes a
// release cannot ship.
package licenses

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/google/licenseclassifier/v2/assets"
)

// Module is one linked module and where its files are (the module cache or a staging copy).
type Module struct {
	Path, Version, Dir string
}

// Finding is one module's licence.
type Finding struct {
	Module  string   `json:"module"`
	Version string   `json:"version"`
	License string   `json:"license"` // SPDX expression, e.g. "Apache-2.0" or "BSD-3-Clause AND MIT"
	Class   string   `json:"class"`   // notice, unencumbered, reciprocal, restricted, forbidden, unknown
	Files   []string `json:"files"`   // licence and NOTICE files, relative to the module
	// Texts holds each file's content, keyed like Files; written into the release, not the report.
	Texts map[string][]byte `json:"-"`
}

// Shippable says whether a class may go into a release: notices are kept and reciprocal
// (file-level copyleft, e.g. MPL-2.0) sources are public modules; restricted and forbidden
// licences, and a module whose licence nobody could read, stop the release.
func Shippable(class string) bool {
	switch class {
	case "notice", "unencumbered", "reciprocal":
		return true
	}
	return false
}

// licenseFile matches the files go-licenses reads a module's licence from, plus NOTICE files,
// which Apache-2.0 requires to travel with the binary.
var licenseFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|notice)(\.|-|_|$)`)

// docsLicense matches a licence for a module's documentation (go-digest's LICENSE.docs is
// CC-BY-SA-4.0): shipped with the texts, but not the licence of the code linked in.
var docsLicense = regexp.MustCompile(`(?i)[._-]docs?$`)

// Classify reads the licence files at each module's root.
func Classify(mods []Module) ([]Finding, error) {
	c, err := assets.DefaultClassifier()
	if err != nil {
		return nil, fmt.Errorf("load licence classifier: %w", err)
	}
	var out []Finding
	for _, m := range mods {
		f := Finding{Module: m.Path, Version: m.Version, Texts: map[string][]byte{}}
		entries, err := os.ReadDir(m.Dir)
		if err != nil {
			return nil, fmt.Errorf("licences of %s@%s: %w", m.Path, m.Version, err)
		}
		names := map[string]bool{}
		for _, e := range entries {
			if e.IsDir() || !licenseFile.MatchString(e.Name()) {
				continue
			}
			data, err := os.ReadFile(filepath.Join(m.Dir, e.Name()))
			if err != nil {
				return nil, err
			}
			f.Files = append(f.Files, e.Name())
			f.Texts[e.Name()] = data
			if docsLicense.MatchString(e.Name()) {
				continue
			}
			for _, match := range c.Match(data).Matches {
				if match.MatchType == "License" && match.Confidence >= 0.9 {
					names[match.Name] = true
				}
			}
		}
		f.License, f.Class = "NOASSERTION", "unknown"
		if len(names) > 0 {
			var ids []string
			for n := range names {
				ids = append(ids, n)
			}
			sort.Strings(ids)
			f.License = strings.Join(ids, " AND ")
			f.Class = strictest(ids)
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Module < out[j].Module })
	return out, nil
}

// Refused lists the findings a release cannot ship, one line each.
func Refused(fs []Finding) []string {
	var bad []string
	for _, f := range fs {
		if !Shippable(f.Class) {
			bad = append(bad, fmt.Sprintf("%s@%s: %s (%s)", f.Module, f.Version, f.License, f.Class))
		}
	}
	return bad
}

// classOrder ranks classes from the least to the most constraining.
var classOrder = []string{"unencumbered", "notice", "reciprocal", "restricted", "forbidden"}

func strictest(ids []string) string {
	worst := 0
	for _, id := range ids {
		c := ClassOf(id)
		i := slices.Index(classOrder, c)
		if i < 0 {
			return "unknown"
		}
		worst = max(worst, i)
	}
	return classOrder[worst]
}

// ClassOf maps an SPDX licence id to go-licenses' class (github.com/google/go-licenses,
// licenses/types.go), by prefix where a family shares one.
func ClassOf(id string) string {
	for _, r := range classRules {
		for _, p := range r.prefixes {
			if id == p || (strings.HasSuffix(p, "-") && strings.HasPrefix(id, p)) {
				return r.class
			}
		}
	}
	return "unknown"
}

var classRules = []struct {
	class    string
	prefixes []string
}{
	// Checked first: these share prefixes with notice licences (CC-BY-NC- before CC-BY-).
	{"forbidden", []string{"AGPL-", "CC-BY-NC-", "Commons-Clause", "Facebook-", "WTFPL", "SSPL-", "BUSL-", "Elastic-"}},
	{"restricted", []string{"BCL", "CC-BY-ND-", "CC-BY-SA-", "GPL-", "LGPL-", "NPL-", "OSL-", "QPL-1.0", "Sleepycat"}},
	{"reciprocal", []string{"APSL-", "CDDL-", "CPL-1.0", "EPL-", "IPL-1.0", "MPL-", "Ruby"}},
	{"unencumbered", []string{"CC0-1.0", "Unlicense", "0BSD"}},
	{"notice", []string{"AFL-", "Apache-", "Artistic-", "BSD-", "BSL-1.0", "CC-BY-", "FTL", "ISC", "ImageMagick",
		"Libpng", "Lil-1.0", "Linux-OpenIB", "LPL-", "MIT", "MS-PL", "NCSA", "OpenSSL", "PHP-", "PIL", "Python-2.0",
		"SGI-B-2.0", "Unicode-DFS-", "W3C", "X11", "Xnet", "ZPL-2.0", "Zlib"}},
}
