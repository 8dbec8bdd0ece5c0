// Package versions reads and writes the pins under build/versions: for one Kubernetes release, the
// k8s.io/kubernetes module, every staging module its go.mod replaces from ./staging (each with its
// h1: hash), and the etcd version the tree pins.
package versions

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Module is one pinned Go module.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Sum     string `json:"sum"` // h1: hash of the module's files, as in go.sum
}

// Pins is everything needed to rebuild one release's upstream tree.
type Pins struct {
	// Kubernetes is k8s.io/kubernetes itself.
	Kubernetes Module `json:"kubernetes"`
	// ReleaseTime is the module's publication time; it stamps buildDate and the tree's commits so
	// builds are reproducible.
	ReleaseTime string `json:"releaseTime"`
	// Staging modules, copied to staging/src/<path>.
	Staging []Module `json:"staging"`
	// GoDirective is the go line of the tree's go.mod.
	GoDirective string `json:"goDirective"`
	// Etcd is the go.etcd.io/etcd/server/v3 (or api/v3) version the tree requires.
	Etcd string `json:"etcd"`
	// Overlay names the build/hyperkube/<overlay> directory this release builds with, when it is
	// not the release's own minor: releases whose component constructors match share one.
	Overlay string `json:"overlay,omitempty"`
}

// OverlayDir returns the hyperkube overlay directory for these pins.
func (p *Pins) OverlayDir(root string) string {
	name := p.Overlay
	if name == "" {
		name, _ = Minor(p.Kubernetes.Version)
	}
	return filepath.Join(root, "build", "hyperkube", name)
}

var versionRE = regexp.MustCompile(`^v1\.(\d+)\.(\d+)$`)

// Minor returns "v1.37" for "v1.37.2".
func Minor(version string) (string, error) {
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return "", fmt.Errorf("%q is not a Kubernetes release version (want v1.MINOR.PATCH)", version)
	}
	return "v1." + m[1], nil
}

// StagingVersion maps a Kubernetes release to its staging modules' version: v1.37.2 → v0.37.2.
func StagingVersion(version string) (string, error) {
	if _, err := Minor(version); err != nil {
		return "", err
	}
	return "v0." + strings.TrimPrefix(version, "v1."), nil
}

// ErrUnknownVersion is returned by Load when no pins exist for a version.
var ErrUnknownVersion = errors.New("unknown version")

// Dir is where pins live, relative to the repository root.
const Dir = "build/versions"

// Path returns the pins file for version under root.
func Path(root, version string) string { return filepath.Join(root, Dir, version+".json") }

// Load reads the pins for version.
func Load(root, version string) (*Pins, error) {
	if _, err := Minor(version); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(Path(root, version))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w %s: no pins at %s (known: %s; add one with `hk pin %s`)",
			ErrUnknownVersion, version, Path(root, version), strings.Join(Known(root), ", "), version)
	}
	if err != nil {
		return nil, err
	}
	var p Pins
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("parse %s: %w", Path(root, version), err)
	}
	if p.Kubernetes.Version != version {
		return nil, fmt.Errorf("%s pins %s, not %s", Path(root, version), p.Kubernetes.Version, version)
	}
	return &p, p.validate()
}

func (p *Pins) validate() error {
	for _, m := range p.All() {
		if m.Path == "" || m.Version == "" || !strings.HasPrefix(m.Sum, "h1:") {
			return fmt.Errorf("pins for %s: module %q has no version or h1: sum", p.Kubernetes.Version, m.Path)
		}
	}
	return nil
}

// Known lists the versions that have pins, sorted.
func Known(root string) []string {
	matches, _ := filepath.Glob(filepath.Join(root, Dir, "v1.*.json"))
	var out []string
	for _, m := range matches {
		out = append(out, strings.TrimSuffix(filepath.Base(m), ".json"))
	}
	sort.Strings(out)
	return out
}

// All returns k8s.io/kubernetes followed by the staging modules.
func (p *Pins) All() []Module { return append([]Module{p.Kubernetes}, p.Staging...) }

// Digest identifies the pinned inputs; a materialized tree is reused only if it matches.
func (p *Pins) Digest() string {
	h := sha256.New()
	for _, m := range p.All() {
		fmt.Fprintf(h, "%s %s %s\n", m.Path, m.Version, m.Sum)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// Save writes the pins atomically.
func (p *Pins) Save(root string) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	path := Path(root, p.Kubernetes.Version)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pins-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
