// Package release assembles everything a release engineer ships and a consumer verifies: a
// hyperkube per architecture, daemonless OCI images (the product image and one per component),
// SPDX SBOMs, an in-toto SLSA provenance statement, licence attribution, sigstore bundles and
// one manifest naming all of it, under out/release/<version>/. Verify checks such a directory.
package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/progress"
	"github.com/hardened-hyperkube/hk/internal/publish/licenses"
	"github.com/hardened-hyperkube/hk/internal/publish/ociimage"
	"github.com/hardened-hyperkube/hk/internal/publish/provenance"
	"github.com/hardened-hyperkube/hk/internal/publish/sbom"
	"github.com/hardened-hyperkube/hk/internal/publish/signing"
	"github.com/hardened-hyperkube/hk/internal/source/modcache"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// Source is the repository the release is built from, for image labels.
const Source = "https://github.com/hardened-hyperkube/hk"

// Images are the release's images: the multi-call product image and one per control-plane
// component and kubectl. kube-proxy needs iptables or nft in its image and the kubelet runs on
// the host, so neither gets one (see docs/release.md).
var Images = []ociimage.Spec{
	{Name: "hyperkube", Entrypoint: "/usr/local/bin/hyperkube"},
	{Name: "kube-apiserver", Entrypoint: "/usr/local/bin/kube-apiserver"},
	{Name: "kube-controller-manager", Entrypoint: "/usr/local/bin/kube-controller-manager"},
	{Name: "kube-scheduler", Entrypoint: "/usr/local/bin/kube-scheduler"},
	{Name: "kubectl", Entrypoint: "/usr/local/bin/kubectl"},
}

// NoVulnerabilityReport is recorded while no Go vulnerability database can be had offline.
const NoVulnerabilityReport = "not made: the Go vulnerability database (vuln.go.dev) is not reachable from the build machine; " +
	"run govulncheck -mode=binary against each hyperkube where it is"

// Options selects a release.
type Options struct {
	Root       string
	Version    string
	Selection  string   // series.All unless testing
	Arches     []string // GOARCH values
	OutDir     string   // out/: builds land in out/<version>[-linux-<arch>]
	CacheDir   string   // out/trees
	ReleaseDir string   // out/release: the release is out/release/<version>
	Key        []byte   // PEM private key; nil: an unsigned release
	Log        func(string, ...any)
	Progress   *progress.Reporter
}

// Result is a finished release.
type Result struct {
	Dir      string
	Manifest *Manifest
	Elapsed  time.Duration
	Findings []licenses.Finding
}

// Build makes the release in a temporary directory and renames it into place, so a failure
// leaves no half-written release.
func Build(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	if len(o.Arches) == 0 {
		return nil, fmt.Errorf("no architectures given")
	}
	for _, a := range o.Arches {
		if !slices.Contains(build.Arches, a) {
			return nil, fmt.Errorf("unknown architecture %q (have %s)", a, strings.Join(build.Arches, ", "))
		}
	}
	pins, err := versions.Load(o.Root, o.Version)
	if err != nil {
		return nil, err
	}
	var signer *signing.Signer
	if o.Key != nil {
		if signer, err = signing.LoadSigner(o.Key); err != nil {
			return nil, err
		}
	}
	revision, err := command.New("git", "-C", o.Root, "rev-parse", "HEAD").Output(ctx)
	if err != nil {
		revision = "unknown"
	}

	results := map[string]*build.Result{}
	for _, arch := range o.Arches {
		res, err := build.Build(ctx, build.Options{Root: o.Root, Version: o.Version, Selection: o.Selection, Arch: arch,
			OutDir: o.OutDir, CacheDir: o.CacheDir, Log: o.Log, Progress: o.Progress})
		if err != nil {
			return nil, err
		}
		results[arch] = res
	}
	first := results[o.Arches[0]].Provenance
	gitVersion := first.GitVersion
	tag := strings.ReplaceAll(gitVersion, "+", "_")
	created, err := time.Parse(time.RFC3339, pins.ReleaseTime)
	if err != nil {
		return nil, fmt.Errorf("pins of %s: release time: %w", o.Version, err)
	}

	// Modules of every binary: the architectures link the same modules, but read each.
	type binInfo struct {
		main   sbom.Module
		deps   []sbom.Module
		goVer  string
		sha256 string
	}
	infos := map[string]binInfo{}
	modSet := map[string]sbom.Module{}
	for arch, res := range results {
		main, deps, goVer, err := sbom.ReadBinary(res.Binary, pins)
		if err != nil {
			return nil, err
		}
		infos[arch] = binInfo{main, deps, goVer, res.Provenance.SHA256}
		modSet[main.Path] = main
		for _, d := range deps {
			modSet[d.Path] = d
		}
	}

	o.Log("release %s: licences of %d modules", o.Version, len(modSet))
	findings, err := classify(ctx, modSet)
	if err != nil {
		return nil, err
	}
	if bad := licenses.Refused(findings); len(bad) > 0 {
		return nil, fmt.Errorf("licence check: %d modules cannot ship: %s", len(bad), strings.Join(bad, "; "))
	}
	licenseOf := map[string]string{}
	licenseTexts := map[string][]byte{}
	classes := map[string]int{}
	for _, f := range findings {
		licenseOf[f.Module] = f.License
		classes[f.Class]++
		for name, text := range f.Texts {
			licenseTexts[path.Join(f.Module, name)] = text
		}
	}
	report, err := json.MarshalIndent(findings, "", "  ")
	if err != nil {
		return nil, err
	}
	report = append(report, '\n')
	licenseTexts["LICENSES.json"] = report

	if err := os.MkdirAll(o.ReleaseDir, 0o755); err != nil {
		return nil, err
	}
	final := filepath.Join(o.ReleaseDir, o.Version)
	tmp, err := os.MkdirTemp(o.ReleaseDir, "."+o.Version+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	w := &writer{dir: tmp}

	m := &Manifest{
		Schema: Schema, Version: o.Version, GitVersion: gitVersion, Tag: tag, Revision: revision,
		Architectures: o.Arches, Signed: signer != nil, Vulnerabilities: NoVulnerabilityReport,
	}
	var patches []sbom.Patch
	for _, p := range first.Patches {
		m.Patches = append(m.Patches, filepath.Base(p.Path))
		patches = append(patches, sbom.Patch{Name: filepath.Base(p.Path), SHA256: p.SHA256})
	}
	sbomBinary := func(arch string) sbom.Binary {
		in := infos[arch]
		return sbom.Binary{Name: "hyperkube", Arch: arch, SHA256: in.sha256, GitVersion: gitVersion, GoVersion: in.goVer,
			Main: in.main, Modules: in.deps, Patches: patches, Licenses: licenseOf, Created: pins.ReleaseTime}
	}

	// Licences: the report and every text, as files of the release.
	for _, name := range slices.Sorted(maps.Keys(licenseTexts)) {
		if err := w.write(path.Join("licenses", name), licenseTexts[name]); err != nil {
			return nil, err
		}
	}
	m.Licenses = Licenses{Report: "licenses/LICENSES.json", Modules: len(findings), Classes: classes}
	m.Files = append(m.Files, File{Path: m.Licenses.Report, Kind: "licenses"})

	// Binaries and their SBOMs.
	binaries := map[string]string{}
	for _, arch := range o.Arches {
		rel := fmt.Sprintf("bin/linux-%s/hyperkube", arch)
		if err := w.link(rel, results[arch].Binary); err != nil {
			return nil, err
		}
		binaries[arch] = filepath.Join(tmp, rel)
		doc, err := sbom.ForBinary(sbomBinary(arch))
		if err != nil {
			return nil, err
		}
		sbomPath := fmt.Sprintf("sbom/hyperkube-linux-%s.spdx.json", arch)
		if err := w.write(sbomPath, doc); err != nil {
			return nil, err
		}
		m.Files = append(m.Files, File{Path: rel, Kind: "binary", Arch: arch, SBOM: sbomPath},
			File{Path: sbomPath, Kind: "sbom", Arch: arch})
	}

	// Images: one OCI layout with every image, a docker archive per architecture.
	components, err := build.ComponentsOf(o.Root, o.Version)
	if err != nil {
		return nil, err
	}
	nsswitch, err := os.ReadFile(filepath.Join(o.Root, "images", "nsswitch.conf"))
	if err != nil {
		return nil, err
	}
	imageLicenses := map[string][]byte{}
	for name, text := range licenseTexts {
		imageLicenses[name] = text
	}
	o.Log("release %s: %d images × %d architectures", o.Version, len(Images), len(o.Arches))
	built, err := ociimage.Build(ociimage.Input{
		GitVersion: gitVersion, Tag: tag, Revision: revision, Source: Source, Created: created,
		NSSwitch: nsswitch, Licenses: imageLicenses, Components: components, Binaries: binaries,
	}, Images)
	if err != nil {
		return nil, err
	}
	if err := ociimage.WriteLayout(filepath.Join(tmp, "images", "oci"), built); err != nil {
		return nil, err
	}
	baseFiles := ociimage.BaseFiles(nsswitch)
	for name, text := range imageLicenses {
		baseFiles[path.Join(ociimage.LicenseDir, name)] = text
	}
	for _, b := range built {
		idxDigest, err := b.Index.Digest()
		if err != nil {
			return nil, err
		}
		im := Image{Name: b.Spec.Name, Ref: b.Ref, Index: idxDigest.String()}
		for _, arch := range o.Arches {
			img := b.Images[arch]
			md, err := img.Digest()
			if err != nil {
				return nil, err
			}
			cfg, err := img.ConfigName()
			if err != nil {
				return nil, err
			}
			doc, err := sbom.ForImage(sbom.Image{Name: b.Spec.Name, Tag: tag, ManifestDigest: md.String(),
				Entrypoint: b.Spec.Entrypoint, Binary: sbomBinary(arch), Files: baseFiles})
			if err != nil {
				return nil, err
			}
			sbomPath := fmt.Sprintf("images/%s-linux-%s.spdx.json", b.Spec.Name, arch)
			if err := w.write(sbomPath, doc); err != nil {
				return nil, err
			}
			m.Files = append(m.Files, File{Path: sbomPath, Kind: "sbom", Arch: arch})
			im.Platforms = append(im.Platforms, Platform{Arch: arch, Manifest: md.String(), Config: cfg.String(), SBOM: sbomPath})
		}
		m.Images = append(m.Images, im)
	}
	for _, arch := range o.Arches {
		rel := fmt.Sprintf("images/docker-linux-%s.tar", arch)
		if err := os.MkdirAll(filepath.Join(tmp, "images"), 0o755); err != nil {
			return nil, err
		}
		if err := ociimage.WriteDockerArchive(filepath.Join(tmp, rel), arch, built); err != nil {
			return nil, err
		}
		m.Files = append(m.Files, File{Path: rel, Kind: "docker-archive", Arch: arch})
	}

	// Digests of every file artifact.
	for i := range m.Files {
		sum, size, err := fileDigest(filepath.Join(tmp, m.Files[i].Path))
		if err != nil {
			return nil, err
		}
		m.Files[i].SHA256, m.Files[i].Size = sum, size
	}

	// Provenance: every file artifact and every image index is a subject.
	st := provenance.Statement{
		Version: o.Version, Patches: o.Selection, Architectures: o.Arches, GoVersion: first.GoVersion,
		Env: first.Env, Flags: first.Flags, Revision: revision,
	}
	for _, f := range m.Files {
		st.Subjects = append(st.Subjects, provenance.Subject{Name: f.Path, SHA256: f.SHA256})
	}
	for _, im := range m.Images {
		st.Subjects = append(st.Subjects, provenance.Subject{Name: ImageSubject(im.Ref), SHA256: strings.TrimPrefix(im.Index, "sha256:")})
	}
	st.Dependencies = append(st.Dependencies, provenance.Dependency{Name: "go", URI: "pkg:golang/stdlib@" + strings.TrimPrefix(first.GoVersion, "go")})
	for _, p := range first.Patches {
		st.Dependencies = append(st.Dependencies, provenance.Dependency{Name: p.Path, SHA256: p.SHA256})
	}
	for _, k := range slices.Sorted(maps.Keys(modSet)) {
		mod := modSet[k]
		if mod.Sum == "" {
			return nil, fmt.Errorf("module %s@%s has no h1: hash in the build info or the pins", mod.Path, mod.Version)
		}
		st.Dependencies = append(st.Dependencies, provenance.Dependency{Name: mod.Path, URI: "pkg:golang/" + mod.Path + "@" + mod.Version, H1: mod.Sum})
	}
	statement, err := provenance.Marshal(st)
	if err != nil {
		return nil, err
	}
	m.Provenance.Statement = "provenance.intoto.json"
	if err := w.write(m.Provenance.Statement, statement); err != nil {
		return nil, err
	}

	// Signatures: a bundle beside every file, one over each image index, DSSE for provenance.
	if signer != nil {
		o.Log("release %s: signing with key %s", o.Version, signing.FingerprintHex(string(signer.GetHint())))
		pub, err := signer.GetPublicKeyPem()
		if err != nil {
			return nil, err
		}
		m.KeyFingerprint, m.PublicKey = string(signer.GetHint()), "signing-key.pub"
		if err := w.write(m.PublicKey, []byte(pub)); err != nil {
			return nil, err
		}
		for i, f := range m.Files {
			data, err := os.ReadFile(filepath.Join(tmp, f.Path))
			if err != nil {
				return nil, err
			}
			b, err := signer.SignBlob(data)
			if err != nil {
				return nil, err
			}
			m.Files[i].Signature = f.Path + ".sigstore.json"
			if err := w.write(m.Files[i].Signature, b); err != nil {
				return nil, err
			}
		}
		for i, b := range built {
			raw, err := b.Index.RawManifest()
			if err != nil {
				return nil, err
			}
			bundle, err := signer.SignBlob(raw)
			if err != nil {
				return nil, err
			}
			m.Images[i].Signature = "images/" + b.Spec.Name + ".index.sigstore.json"
			if err := w.write(m.Images[i].Signature, bundle); err != nil {
				return nil, err
			}
		}
		bundle, err := signer.SignStatement(statement)
		if err != nil {
			return nil, err
		}
		m.Provenance.Bundle = "provenance.intoto.sigstore.json"
		if err := w.write(m.Provenance.Bundle, bundle); err != nil {
			return nil, err
		}
	}

	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	if err := w.write(ManifestFile, data); err != nil {
		return nil, err
	}
	if signer != nil {
		b, err := signer.SignBlob(data)
		if err != nil {
			return nil, err
		}
		if err := w.write(ManifestFile+".sigstore.json", b); err != nil {
			return nil, err
		}
	}
	if err := writeSums(tmp); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(final); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, err
	}
	return &Result{Dir: final, Manifest: m, Elapsed: time.Since(start), Findings: findings}, nil
}

// classify finds every module's files in the module cache (the build fetched them all) and
// reads their licences.
func classify(ctx context.Context, mods map[string]sbom.Module) ([]licenses.Finding, error) {
	var args []string
	for _, k := range slices.Sorted(maps.Keys(mods)) {
		args = append(args, mods[k].Path+"@"+mods[k].Version)
	}
	downloaded, err := modcache.Download(ctx, args...)
	if err != nil {
		return nil, err
	}
	var in []licenses.Module
	for _, d := range downloaded {
		in = append(in, licenses.Module{Path: d.Path, Version: d.Version, Dir: d.Dir})
	}
	return licenses.Classify(in)
}

// writer puts files into the release under construction.
type writer struct{ dir string }

func (w *writer) write(rel string, data []byte) error {
	p := filepath.Join(w.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// link hard-links a build output into the release (same filesystem: no 150 MB copy), or
// copies it.
func (w *writer) link(rel, src string) error {
	p := filepath.Join(w.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, p); err == nil {
		return nil
	}
	return modcache.CopyFile(src, p, 0o755)
}

// SumsFile lists the sha256 of every file of the release but itself, as sha256sum -c reads it.
const SumsFile = "SHA256SUMS"

func writeSums(dir string) error {
	files, err := listFiles(dir)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, f := range files {
		if f == SumsFile {
			continue
		}
		sum, _, err := fileDigest(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, f)
	}
	return os.WriteFile(filepath.Join(dir, SumsFile), []byte(b.String()), 0o644)
}

// listFiles returns every regular file under dir, slash-separated and sorted.
func listFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func fileDigest(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
