package licenses

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/licenseclassifier/v2/assets"
)

func TestClassOf(t *testing.T) {
	for id, want := range map[string]string{
		"Apache-2.0": "notice", "MIT": "notice", "BSD-3-Clause": "notice", "ISC": "notice",
		"MPL-2.0": "reciprocal", "GPL-3.0": "restricted", "LGPL-2.1": "restricted",
		"AGPL-3.0": "forbidden", "CC-BY-NC-4.0": "forbidden", "CC-BY-4.0": "notice", "CC0-1.0": "unencumbered",
		"Made-Up-1.0": "unknown",
	} {
		if got := ClassOf(id); got != want {
			t.Errorf("ClassOf(%q) = %q, want %q", id, got, want)
		}
	}
}

// module writes a module directory holding the classifier's own copy of each named licence.
func module(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, asset := range files {
		text := []byte(asset)
		if strings.HasPrefix(asset, "License/") {
			var err error
			if text, err = assets.ReadLicenseFile(asset); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestClassifyAndRefuse(t *testing.T) {
	mods := []Module{
		{Path: "example.com/apache", Version: "v1.0.0", Dir: module(t, map[string]string{"LICENSE": "License/Apache-2.0/pristine.txt", "NOTICE": "Copyright Example",
			"LICENSE.docs": "License/CC-BY-SA-4.0/license.txt"})},
		{Path: "example.com/gpl", Version: "v1.0.0", Dir: module(t, map[string]string{"COPYING": "License/GPL-3.0/license.txt"})},
		{Path: "example.com/none", Version: "v0.1.0", Dir: module(t, map[string]string{"README.md": "no licence here"})},
	}
	got, err := Classify(mods)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Module, License, Class string
		Files                  []string
	}
	var rows []row
	for _, f := range got {
		rows = append(rows, row{f.Module, f.License, f.Class, f.Files})
	}
	want := []row{
		{"example.com/apache", "Apache-2.0", "notice", []string{"LICENSE", "LICENSE.docs", "NOTICE"}},
		{"example.com/gpl", "GPL-3.0", "restricted", []string{"COPYING"}},
		{"example.com/none", "NOASSERTION", "unknown", nil},
	}
	if d := cmp.Diff(want, rows); d != "" {
		t.Errorf("Classify (-want +got):\n%s", d)
	}
	if string(got[0].Texts["NOTICE"]) != "Copyright Example" {
		t.Errorf("NOTICE text not kept: %q", got[0].Texts["NOTICE"])
	}
	refused := Refused(got)
	if len(refused) != 2 || !strings.Contains(refused[0], "example.com/gpl@v1.0.0: GPL-3.0 (restricted)") {
		t.Errorf("Refused = %q", refused)
	}
}
