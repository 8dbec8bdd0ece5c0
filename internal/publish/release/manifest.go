package release

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Schema identifies the manifest format.
const Schema = "hk.release/v1"

// ManifestFile is the release manifest's name at the release root.
const ManifestFile = "manifest.json"

// Manifest names every artifact of a release with its digest, signature, SBOM and provenance.
type Manifest struct {
	Schema     string   `json:"schema"`
	Version    string   `json:"version"`    // Kubernetes release
	GitVersion string   `json:"gitVersion"` // what the binaries report
	Tag        string   `json:"tag"`        // image tag: GitVersion with "_" for "+"
	Patches    []string `json:"patches"`    // series applied, file names
	Revision   string   `json:"revision"`   // our commit
	// Release is our release's identity, <version>-hk.N, from the newest CHANGELOG.md entry for
	// the version (docs/follow.md); "" when the CHANGELOG has none.
	Release       string   `json:"release,omitempty"`
	Architectures []string `json:"architectures"`
	Signed        bool     `json:"signed"`
	// KeyFingerprint is the sigstore hint of the signing key (base64 SHA-256 of the public key).
	KeyFingerprint string     `json:"keyFingerprint,omitempty"`
	PublicKey      string     `json:"publicKey,omitempty"` // path of the public key shipped in the release
	Files          []File     `json:"files"`
	Images         []Image    `json:"images"`
	Provenance     Provenance `json:"provenance"`
	Licenses       Licenses   `json:"licenses"`
	// FIPS is the Go FIPS 140-3 module every binary was built with ("" for the default release).
	FIPS string `json:"fips,omitempty"`
	// Vulnerabilities says whether a vulnerability report was made, and why not.
	Vulnerabilities string `json:"vulnerabilities"`
}

// File is one file artifact of the release.
type File struct {
	Path      string `json:"path"`
	Kind      string `json:"kind"` // binary, sbom, docker-archive, licenses
	Arch      string `json:"arch,omitempty"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	SBOM      string `json:"sbom,omitempty"`      // for binaries
	Signature string `json:"signature,omitempty"` // sigstore bundle, when signed
}

// Image is one image, every architecture, in the release's OCI layout.
type Image struct {
	Name      string     `json:"name"`
	Ref       string     `json:"ref"` // repository:tag, the layout's ref.name annotation
	Index     string     `json:"index"`
	Signature string     `json:"signature,omitempty"` // over the index manifest
	Platforms []Platform `json:"platforms"`
}

// Platform is one architecture of an image.
type Platform struct {
	Arch     string `json:"arch"`
	Manifest string `json:"manifest"`
	Config   string `json:"config"`
	SBOM     string `json:"sbom"`
}

// Provenance names the in-toto statement and its DSSE bundle.
type Provenance struct {
	Statement string `json:"statement"`
	Bundle    string `json:"bundle,omitempty"`
}

// Licenses summarises the licence report.
type Licenses struct {
	Report  string         `json:"report"`
	Modules int            `json:"modules"`
	Classes map[string]int `json:"classes"`
}

// ReadManifest loads a release's manifest.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("%s is not a release: %w", dir, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if m.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %q, want %q", ManifestFile, m.Schema, Schema)
	}
	return &m, nil
}

// ImageSubject is how an image index appears among the provenance subjects.
func ImageSubject(ref string) string { return "oci-image:" + ref }
