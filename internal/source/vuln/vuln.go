// Package vuln scans releases for known vulnerabilities, offline and reproducibly: the Go
// vulnerability database's source (golang.org/x/vulndb, its OSV entries under data/osv) and the
// scanner (golang.org/x/vuln's govulncheck) are pinned modules like any other, fetched through the
// module proxy and checked against their h1: hashes; the database govulncheck reads is built from
// the pinned entries, so a scan's freshness is the pinned database's date, printed with every report.
package vuln

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/semver"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/source/modcache"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// PinsFile holds the pins of the database and the scanner, relative to the repository root.
const PinsFile = "build/vuln.json"

// Pins names the database and the scanner.
type Pins struct {
	Database versions.Module `json:"database"` // golang.org/x/vulndb at a pseudo-version: its date is the scan's freshness
	Scanner  versions.Module `json:"scanner"`  // golang.org/x/vuln: govulncheck
}

// LoadPins reads build/vuln.json.
func LoadPins(root string) (*Pins, error) {
	data, err := os.ReadFile(filepath.Join(root, PinsFile))
	if err != nil {
		return nil, fmt.Errorf("vulnerability scanner pins: %w", err)
	}
	var p Pins
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("parse %s: %w", PinsFile, err)
	}
	for _, m := range []versions.Module{p.Database, p.Scanner} {
		if m.Path == "" || m.Version == "" || !strings.HasPrefix(m.Sum, "h1:") {
			return nil, fmt.Errorf("%s: module %q has no version or h1: sum", PinsFile, m.Path)
		}
	}
	return &p, nil
}

var pseudoTimeRE = regexp.MustCompile(`-(\d{14})-[0-9a-f]{12}$`)

// Date is the pinned database's commit time, from its pseudo-version.
func (p *Pins) Date() (time.Time, error) {
	m := pseudoTimeRE.FindStringSubmatch(p.Database.Version)
	if m == nil {
		return time.Time{}, fmt.Errorf("%s: database version %s is not a pseudo-version (it names the database's date)", PinsFile, p.Database.Version)
	}
	return time.Parse("20060102150405", m[1])
}

// Tools are the prepared scanner and database.
type Tools struct {
	Pins        *Pins
	Govulncheck string    // the built scanner
	DB          string    // a database in govulncheck's v1 layout
	Date        time.Time // the database's date
	Entries     int
	dir         string // where they live, and remembered reports
}

// Prepare fetches and verifies both modules, builds govulncheck and the database under dir
// (reused when already there), and returns them.
func Prepare(ctx context.Context, p *Pins, dir string) (*Tools, error) {
	date, err := p.Date()
	if err != nil {
		return nil, err
	}
	mods, err := modcache.Download(ctx, p.Database.Path+"@"+p.Database.Version, p.Scanner.Path+"@"+p.Scanner.Version)
	if err != nil {
		return nil, err
	}
	for i, m := range []versions.Module{p.Database, p.Scanner} {
		if err := modcache.Verify(m.Path, m.Version, mods[i].Dir, m.Sum); err != nil {
			return nil, err
		}
	}
	t := toolsAt(p, dir, date)
	if _, err := os.Stat(t.Govulncheck); err != nil {
		if err := buildScanner(ctx, mods[1].Dir, t.Govulncheck); err != nil {
			return nil, err
		}
	}
	if t.Entries, err = BuildDB(filepath.Join(mods[0].Dir, "data", "osv"), t.DB, date); err != nil {
		return nil, err
	}
	return t, nil
}

// Ready returns the tools Prepare made under dir before, without the network: what a node in the
// field has when the directory was copied to it.
func Ready(p *Pins, dir string) (*Tools, error) {
	date, err := p.Date()
	if err != nil {
		return nil, err
	}
	t := toolsAt(p, dir, date)
	if t.Entries, err = countEntries(t.DB); err != nil || t.Entries == 0 {
		return nil, fmt.Errorf("no pinned vulnerability database at %s (run `hk vuln scan` once where the module proxy is reachable, or copy that directory here)", t.DB)
	}
	if _, err := os.Stat(t.Govulncheck); err != nil {
		return nil, fmt.Errorf("no govulncheck at %s (run `hk vuln scan` once where the module proxy is reachable)", t.Govulncheck)
	}
	return t, nil
}

// toolsAt names where Prepare puts the scanner and the database for p under dir.
func toolsAt(p *Pins, dir string, date time.Time) *Tools {
	return &Tools{Pins: p, Date: date, dir: dir,
		Govulncheck: filepath.Join(dir, "govulncheck-"+p.Scanner.Version),
		DB:          filepath.Join(dir, "db-"+p.Database.Version)}
}

// buildScanner builds cmd/govulncheck from the verified module directory, with the module's own
// go.mod and go.sum (checked by the go command), into out, atomically.
func buildScanner(ctx context.Context, moduleDir, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	_, err := command.New("go", "build", "-trimpath", "-o", tmp, "./cmd/govulncheck").InDir(moduleDir).
		WithEnv("GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0").Output(ctx)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("build govulncheck: %w", err)
	}
	return os.Rename(tmp, out)
}

// osvEntry is the part of an OSV entry the index needs.
type osvEntry struct {
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases"`
	Summary  string   `json:"summary"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Events []struct {
				Introduced string `json:"introduced"`
				Fixed      string `json:"fixed"`
			} `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

// BuildDB writes the OSV entries of osvDir as a database in govulncheck's v1 layout at dst
// (index/db.json, index/modules.json, ID/<id>.json), dated date: every entry of the pinned source
// carries a zero modification time, so the database's date is its commit's. It returns the number
// of entries. An existing dst built from the same entries is kept.
func BuildDB(osvDir, dst string, date time.Time) (int, error) {
	files, err := filepath.Glob(filepath.Join(osvDir, "GO-*.json"))
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no OSV entries in %s", osvDir)
	}
	if n, err := countEntries(dst); err == nil && n == len(files) {
		return n, nil
	}
	tmp := dst + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "ID"), 0o755); err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	modules := map[string]*moduleMeta{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var e osvEntry
		if err := json.Unmarshal(data, &e); err != nil {
			return 0, fmt.Errorf("parse %s: %w", filepath.Base(f), err)
		}
		if e.ID+".json" != filepath.Base(f) {
			return 0, fmt.Errorf("%s holds entry %q", filepath.Base(f), e.ID)
		}
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.ID+".json"), data, 0o644); err != nil {
			return 0, err
		}
		for _, a := range e.Affected {
			m := modules[a.Package.Name]
			if m == nil {
				m = &moduleMeta{Path: a.Package.Name}
				modules[a.Package.Name] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: date, Fixed: latestFixed(a.Ranges)})
		}
	}
	var index []*moduleMeta
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		index = append(index, m)
	}
	sort.Slice(index, func(i, j int) bool { return index[i].Path < index[j].Path })
	if err := os.MkdirAll(filepath.Join(tmp, "index"), 0o755); err != nil {
		return 0, err
	}
	for name, v := range map[string]any{"modules.json": index, "db.json": map[string]time.Time{"modified": date}} {
		data, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(tmp, "index", name), data, 0o644); err != nil {
			return 0, err
		}
	}
	_ = os.RemoveAll(dst)
	if err := os.Rename(tmp, dst); err != nil {
		return 0, err
	}
	return len(files), nil
}

func countEntries(db string) (int, error) {
	if _, err := os.Stat(filepath.Join(db, "index", "modules.json")); err != nil {
		return 0, err
	}
	ids, err := filepath.Glob(filepath.Join(db, "ID", "*.json"))
	return len(ids), err
}

// latestFixed is the highest "fixed" event of an entry's ranges for one module, "" if none.
func latestFixed(ranges []struct {
	Events []struct {
		Introduced string `json:"introduced"`
		Fixed      string `json:"fixed"`
	} `json:"events"`
}) string {
	latest := ""
	for _, r := range ranges {
		for _, e := range r.Events {
			if e.Fixed != "" && (latest == "" || semverLess(latest, e.Fixed)) {
				latest = e.Fixed
			}
		}
	}
	return latest
}

// semverLess compares OSV versions (no leading v).
func semverLess(a, b string) bool {
	return semver.Compare("v"+a, "v"+b) < 0
}
