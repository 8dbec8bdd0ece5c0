package vuln

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
)

// How close a vulnerability comes, as govulncheck's findings say.
const (
	Called   = "called"   // a vulnerable function is reachable (source) or linked (binary)
	Imported = "imported" // a vulnerable package is imported, none of its vulnerable functions reached
	Required = "module"   // only the module is required
)

// Finding is one vulnerability in one module, at its closest level (an advisory that names two
// modules, the standard library and golang.org/x/net, is two findings).
type Finding struct {
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	Summary string   `json:"summary"`
	Module  string   `json:"module"`
	Version string   `json:"version"` // the version found
	Fixed   string   `json:"fixed,omitempty"`
	Level   string   `json:"level"`
	Symbols []string `json:"symbols,omitempty"` // for called: the vulnerable functions reached
}

// Report is one scan.
type Report struct {
	Target       string    `json:"target"` // the binary, or the tree and its packages
	Mode         string    `json:"mode"`   // binary or source
	Scanner      string    `json:"scanner"`
	Database     string    `json:"database"`
	DatabaseDate time.Time `json:"databaseDate"`
	Findings     []Finding `json:"findings"`
}

// Counts returns the number of vulnerabilities (advisories) at each level, each at its closest.
func (r *Report) Counts() map[string]int {
	closest := map[string]string{}
	for _, f := range r.Findings {
		if rank[f.Level] > rank[closest[f.ID]] {
			closest[f.ID] = f.Level
		}
	}
	c := map[string]int{Called: 0, Imported: 0, Required: 0}
	for _, level := range closest {
		c[level]++
	}
	return c
}

// Called returns the findings whose vulnerable code is reached.
func (r *Report) Called() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Level == Called {
			out = append(out, f)
		}
	}
	return out
}

// ScanBinary runs govulncheck in binary mode on a Go binary: the modules and functions it links.
func (t *Tools) ScanBinary(ctx context.Context, binary string) (*Report, error) {
	out, err := t.run(ctx, "", nil, "-mode", "binary", binary)
	if err != nil {
		return nil, err
	}
	return t.report(out, binary, "binary")
}

// ScanSource runs govulncheck in source mode on packages of the module in dir, loaded with the
// build's environment env (GOOS, CGO_ENABLED, GOFLAGS): what their call graph reaches.
func (t *Tools) ScanSource(ctx context.Context, dir string, env []string, pkgs ...string) (*Report, error) {
	out, err := t.run(ctx, dir, env, append([]string{"-C", dir}, pkgs...)...)
	if err != nil {
		return nil, err
	}
	return t.report(out, dir+" "+strings.Join(pkgs, " "), "source")
}

// ScanSourceCached is ScanSource remembered by inputs (what decides the program: the tree's commit
// and anything added to it), the scanner, the database, the environment and the packages: a
// second release of the same tree, or the same tree for another architecture, reads the report
// instead of loading the whole program again. It says whether the report was remembered.
func (t *Tools) ScanSourceCached(ctx context.Context, dir string, env []string, inputs string, pkgs ...string) (*Report, bool, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s@%s\n%s@%s\n%q\n%q\n", inputs, t.Pins.Scanner.Path, t.Pins.Scanner.Version, t.Pins.Database.Path, t.Pins.Database.Version, env, pkgs)
	path := filepath.Join(t.dir, "reports", fmt.Sprintf("%x.json", h.Sum(nil)))
	if data, err := os.ReadFile(path); err == nil {
		var r Report
		if err := json.Unmarshal(data, &r); err == nil {
			return &r, true, nil
		}
	}
	r, err := t.ScanSource(ctx, dir, env, pkgs...)
	if err != nil {
		return nil, false, err
	}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return nil, false, err
	}
	return r, false, os.Rename(tmp, path)
}

// ProgramInputs names what decides a program read from a tree: the tree's commit and the main
// package files dropped into it under mainDir (cmd/hyperkube is not part of upstream's tree).
func ProgramInputs(tree, commit, mainDir string) (string, error) {
	inputs := commit
	mains, err := filepath.Glob(filepath.Join(tree, mainDir, "*.go"))
	if err != nil {
		return "", err
	}
	for _, f := range mains {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		inputs += fmt.Sprintf(" %s:%x", filepath.Base(f), sha256.Sum256(data))
	}
	return inputs, nil
}

func (t *Tools) run(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	all := append([]string{"-db", "file://" + t.DB, "-format", "json", "-scan", "symbol"}, args...)
	c := command.New(t.Govulncheck, all...).WithEnv("GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local").WithEnv(env...)
	if dir != "" {
		c = c.InDir(dir)
	}
	// With -format json govulncheck exits 0 whatever it finds; a failure is a failure to scan.
	out, err := c.Output(ctx)
	if err != nil {
		return "", fmt.Errorf("govulncheck: %w", err)
	}
	return out, nil
}

// message is one object of govulncheck's JSON stream (the parts read here).
type message struct {
	OSV *struct {
		ID      string   `json:"id"`
		Aliases []string `json:"aliases"`
		Summary string   `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
		} `json:"trace"`
	} `json:"finding"`
}

var rank = map[string]int{Required: 1, Imported: 2, Called: 3}

// report folds govulncheck's stream into one finding per vulnerability, at its closest level.
func (t *Tools) report(stream, target, mode string) (*Report, error) {
	r := &Report{Target: target, Mode: mode, Scanner: t.Pins.Scanner.Path + "@" + t.Pins.Scanner.Version,
		Database: t.Pins.Database.Path + "@" + t.Pins.Database.Version, DatabaseDate: t.Date, Findings: []Finding{}}
	byID := map[string]*Finding{}
	summaries := map[string]*Finding{}
	dec := json.NewDecoder(strings.NewReader(stream))
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("govulncheck output: %w", err)
		}
		if m.OSV != nil {
			summaries[m.OSV.ID] = &Finding{Aliases: m.OSV.Aliases, Summary: m.OSV.Summary}
		}
		if m.Finding == nil || len(m.Finding.Trace) == 0 {
			continue
		}
		fr := m.Finding.Trace[0]
		level := Required
		switch {
		case fr.Function != "":
			level = Called
		case fr.Package != "":
			level = Imported
		}
		key := m.Finding.OSV + " " + fr.Module
		f := byID[key]
		if f == nil {
			f = &Finding{ID: m.Finding.OSV, Module: fr.Module, Version: fr.Version, Fixed: m.Finding.FixedVersion, Level: level}
			byID[key] = f
		}
		if rank[level] > rank[f.Level] {
			f.Level = level
		}
		if level == Called {
			sym := fr.Package + "." + fr.Function
			if fr.Receiver != "" {
				sym = fr.Package + "." + strings.TrimPrefix(fr.Receiver, "*") + "." + fr.Function
			}
			if !slices.Contains(f.Symbols, sym) {
				f.Symbols = append(f.Symbols, sym)
			}
		}
	}
	for _, f := range byID {
		if s := summaries[f.ID]; s != nil {
			f.Aliases, f.Summary = s.Aliases, s.Summary
		}
		sort.Strings(f.Symbols)
		r.Findings = append(r.Findings, *f)
	}
	sort.Slice(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if rank[a.Level] != rank[b.Level] {
			return rank[a.Level] > rank[b.Level]
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Module < b.Module
	})
	return r, nil
}
