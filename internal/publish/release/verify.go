package release

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/publish/provenance"
	"github.com/hardened-hyperkube/hk/internal/publish/sbom"
	"github.com/hardened-hyperkube/hk/internal/publish/signing"
)

// VerifyOptions says what a consumer trusts.
type VerifyOptions struct {
	// PublicKey is the PEM key the consumer trusts; nil: the key shipped in the release,
	// which proves integrity, not origin (the report says so).
	PublicKey     []byte
	AllowUnsigned bool
	Log           func(string, ...any)
}

// Report is what Verify checked.
type Report struct {
	Dir         string
	Version     string
	Files       int // checksums matched
	Signatures  int // bundles verified
	SBOMs       int
	Subjects    int
	Images      int // image indexes whose blobs were validated
	KeySource   string
	Fingerprint string
}

// VerifyDockerImage checks that an image in the local Docker engine is one the release (already
// verified with Verify) ships: its image ID is the config digest the manifest records for its
// reference and architecture.
func VerifyDockerImage(ctx context.Context, dir, ref string) (string, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return "", err
	}
	out, err := command.New("docker", "image", "inspect", "-f", "{{.Id}} {{.Architecture}}", ref).Output(ctx)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	id, arch, _ := strings.Cut(out, " ")
	for _, im := range m.Images {
		if im.Ref != ref && "docker.io/library/"+im.Ref != ref {
			continue
		}
		for _, p := range im.Platforms {
			if p.Arch != arch {
				continue
			}
			if p.Config != id {
				return "", fmt.Errorf("image %s (linux/%s) has ID %s; the release's is %s", ref, arch, short(strings.TrimPrefix(id, "sha256:")), short(strings.TrimPrefix(p.Config, "sha256:")))
			}
			return arch, nil
		}
		return "", fmt.Errorf("image %s is linux/%s; the release has no such platform", ref, arch)
	}
	return "", fmt.Errorf("image %s is not in the release %s", ref, m.GitVersion)
}

// Verify checks a release directory, or an image layout inside one: every checksum, every
// signature against the trusted key, the provenance subjects against the files, an SBOM for
// every binary and image, and every image blob. The first problem is the error.
func Verify(target string, o VerifyOptions) (*Report, error) {
	dir, err := releaseRoot(target)
	if err != nil {
		return nil, err
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	r := &Report{Dir: dir, Version: m.GitVersion}

	// Checksums: SHA256SUMS covers every file; the manifest's digests agree with it.
	sums, err := readSums(dir)
	if err != nil {
		return nil, err
	}
	files, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if f == SumsFile {
			continue
		}
		want, ok := sums[f]
		if !ok {
			return nil, fmt.Errorf("%s: not listed in %s (a file was added)", f, SumsFile)
		}
		got, _, err := fileDigest(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		if got != want {
			return nil, fmt.Errorf("%s: sha256 %s, %s says %s (the file was changed)", f, short(got), SumsFile, short(want))
		}
		r.Files++
	}
	for f := range sums {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("%s: listed in %s but missing", f, SumsFile)
		}
	}
	for _, f := range m.Files {
		if sums[f.Path] != f.SHA256 {
			return nil, fmt.Errorf("%s: the manifest's sha256 %s differs from %s", f.Path, short(f.SHA256), SumsFile)
		}
	}

	// Signatures.
	var v *signing.Verifier
	switch {
	case !m.Signed && !o.AllowUnsigned:
		return nil, errors.New("the release is unsigned (built without a key); pass --allow-unsigned to check the rest")
	case !m.Signed:
		r.KeySource = "unsigned"
	default:
		key := o.PublicKey
		r.KeySource = "trusted key given"
		if key == nil {
			if key, err = os.ReadFile(filepath.Join(dir, m.PublicKey)); err != nil {
				return nil, fmt.Errorf("signed release without its public key: %w", err)
			}
			r.KeySource = "the key shipped in the release (integrity only: pass --key to check who signed it)"
		}
		if v, err = signing.LoadVerifier(key); err != nil {
			return nil, err
		}
		r.Fingerprint = v.Hint()
		if err := verifyBlob(v, dir, ManifestFile, ManifestFile+".sigstore.json"); err != nil {
			return nil, err
		}
		r.Signatures++
		for _, f := range m.Files {
			if f.Signature == "" {
				return nil, fmt.Errorf("%s: no signature in a signed release", f.Path)
			}
			if err := verifyBlob(v, dir, f.Path, f.Signature); err != nil {
				return nil, err
			}
			r.Signatures++
		}
	}

	// SBOMs: every binary and every image platform has one that describes it.
	for _, f := range m.Files {
		if f.Kind != "binary" {
			continue
		}
		if err := describes(dir, f.SBOM, f.SHA256, f.Path); err != nil {
			return nil, err
		}
		r.SBOMs++
	}

	// Images: the layout's indexes match the manifest; blobs are what their digests say.
	if len(m.Images) > 0 {
		lp, err := layout.FromPath(filepath.Join(dir, "images", "oci"))
		if err != nil {
			return nil, fmt.Errorf("images/oci: %w", err)
		}
		root, err := lp.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("images/oci: %w", err)
		}
		rootManifest, err := root.IndexManifest()
		if err != nil {
			return nil, err
		}
		// Every blob once (the images share their layers), then each index's structure.
		if err := verifyBlobs(filepath.Join(dir, "images", "oci")); err != nil {
			return nil, err
		}
		byRef := map[string]string{}
		for _, d := range rootManifest.Manifests {
			byRef[d.Annotations["org.opencontainers.image.ref.name"]] = d.Digest.String()
		}
		for _, im := range m.Images {
			if byRef[im.Ref] != im.Index {
				return nil, fmt.Errorf("image %s: layout index %q, manifest says %s", im.Ref, byRef[im.Ref], im.Index)
			}
			h, err := v1.NewHash(im.Index)
			if err != nil {
				return nil, err
			}
			idx, err := root.ImageIndex(h)
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", im.Ref, err)
			}
			if err := validate.Index(idx, validate.Fast); err != nil {
				return nil, fmt.Errorf("image %s: %w", im.Ref, err)
			}
			if v != nil {
				raw, err := idx.RawManifest()
				if err != nil {
					return nil, err
				}
				sig, err := os.ReadFile(filepath.Join(dir, im.Signature))
				if err != nil {
					return nil, fmt.Errorf("image %s: no signature: %w", im.Ref, err)
				}
				if err := v.VerifyBlob(sig, raw); err != nil {
					return nil, fmt.Errorf("image %s: signature: %w", im.Ref, err)
				}
				r.Signatures++
			}
			for _, p := range im.Platforms {
				if err := describes(dir, p.SBOM, strings.TrimPrefix(p.Manifest, "sha256:"), im.Ref+" linux/"+p.Arch); err != nil {
					return nil, err
				}
				r.SBOMs++
			}
			r.Images++
		}
	}

	// Provenance: signed statement, subjects exactly the artifacts.
	statement, err := os.ReadFile(filepath.Join(dir, m.Provenance.Statement))
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	if v != nil {
		bundle, err := os.ReadFile(filepath.Join(dir, m.Provenance.Bundle))
		if err != nil {
			return nil, fmt.Errorf("provenance: no signature: %w", err)
		}
		payload, err := v.VerifyStatement(bundle)
		if err != nil {
			return nil, fmt.Errorf("provenance: %w", err)
		}
		if !bytes.Equal(payload, statement) {
			return nil, fmt.Errorf("provenance: %s differs from the signed statement in %s", m.Provenance.Statement, m.Provenance.Bundle)
		}
		r.Signatures++
	}
	subjects, err := provenance.Subjects(statement)
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	want := map[string]string{}
	for _, f := range m.Files {
		want[f.Path] = f.SHA256
	}
	for _, im := range m.Images {
		want[ImageSubject(im.Ref)] = strings.TrimPrefix(im.Index, "sha256:")
	}
	for name, sum := range want {
		got, ok := subjects[name]
		if !ok {
			return nil, fmt.Errorf("provenance: %s is not a subject", name)
		}
		if got != sum {
			return nil, fmt.Errorf("provenance: subject %s has sha256 %s, the artifact %s", name, short(got), short(sum))
		}
	}
	for name := range subjects {
		if _, ok := want[name]; !ok {
			return nil, fmt.Errorf("provenance: subject %s is not in the release", name)
		}
	}
	r.Subjects = len(subjects)
	return r, nil
}

// verifyBlobs checks that every blob of an OCI layout is what its name says.
func verifyBlobs(layoutDir string) error {
	blobs, err := filepath.Glob(filepath.Join(layoutDir, "blobs", "sha256", "*"))
	if err != nil {
		return err
	}
	for _, b := range blobs {
		sum, _, err := fileDigest(b)
		if err != nil {
			return err
		}
		if sum != filepath.Base(b) {
			return fmt.Errorf("images/oci: blob %s has sha256 %s (the blob was changed)", short(filepath.Base(b)), short(sum))
		}
	}
	return nil
}

func verifyBlob(v *signing.Verifier, dir, file, bundle string) error {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(dir, bundle))
	if err != nil {
		return fmt.Errorf("%s: no signature (%s missing)", file, bundle)
	}
	if err := v.VerifyBlob(b, data); err != nil {
		return fmt.Errorf("%s: signature: %w", file, err)
	}
	return nil
}

func describes(dir, sbomPath, sha256, what string) error {
	if sbomPath == "" {
		return fmt.Errorf("%s: no SBOM named in the manifest", what)
	}
	data, err := os.ReadFile(filepath.Join(dir, sbomPath))
	if err != nil {
		return fmt.Errorf("%s: SBOM missing: %w", what, err)
	}
	sums, err := sbom.Describes(data)
	if err != nil {
		return fmt.Errorf("%s: %w", sbomPath, err)
	}
	for _, s := range sums {
		if s == sha256 {
			return nil
		}
	}
	return fmt.Errorf("%s: %s does not describe it (sha256 %s)", what, sbomPath, short(sha256))
}

// releaseRoot accepts a release directory or any path inside one (an image layout).
func releaseRoot(target string) (string, error) {
	abs, err := filepath.Abs(target)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("%s: %w", target, err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ManifestFile)); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside a release (no %s above it)", target, ManifestFile)
		}
	}
}

func readSums(dir string) (map[string]string, error) {
	f, err := os.Open(filepath.Join(dir, SumsFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SumsFile, err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			return nil, fmt.Errorf("%s: malformed line %q", SumsFile, sc.Text())
		}
		out[name] = sum
	}
	return out, sc.Err()
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// Artifacts lists the manifest's files and images for a summary table, sorted by path.
func Artifacts(m *Manifest) []File {
	fs := append([]File{}, m.Files...)
	sort.Slice(fs, func(i, j int) bool { return fs[i].Path < fs[j].Path })
	return fs
}
