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
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/progress"
	"github.com/hardened-hyperkube/hk/internal/plumbing/steps"
	"github.com/hardened-hyperkube/hk/internal/publish/licenses"
	"github.com/hardened-hyperkube/hk/internal/publish/ociimage"
	"github.com/hardened-hyperkube/hk/internal/publish/provenance"
	"github.com/hardened-hyperkube/hk/internal/publish/sbom"
	"github.com/hardened-hyperkube/hk/internal/publish/signing"
	"github.com/hardened-hyperkube/hk/internal/source/modcache"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
	"github.com/hardened-hyperkube/hk/internal/source/vuln"
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

// NoVulnerabilityScan is recorded when a release is made without scanning (Options.VulnDir "").
const NoVulnerabilityScan = "not scanned (hk release --no-vuln-scan)"

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
	// FIPS builds every architecture with Go's certified FIPS 140-3 module: the release is
	// <ReleaseDir>/<version>-fips and its images are tagged <tag>-fips, apart from the default.
	FIPS bool
	// VulnDir holds the pinned vulnerability scanner and database (build/vuln.json); "" makes a
	// release without the vulnerability report and OpenVEX.
	VulnDir  string
	Log      func(string, ...any)
	Progress *progress.Reporter
}

// Result is a finished release.
type Result struct {
	Dir      string
	Manifest *Manifest
	Elapsed  time.Duration
	Findings []licenses.Finding
}

// Build makes the release in a temporary directory and renames it into place, so a failure
// leaves no half-written release. It reads as its steps; each is a method of run below.
func Build(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	r := &run{o: o}
	defer r.cleanup()
	// Bad input is one line and nothing else: checked before the first step is announced.
	if err := r.checkInputs(ctx); err != nil {
		return nil, err
	}
	err := steps.Run(ctx, o.Log, "release "+o.Version, []steps.Step{
		{Name: "building the binaries", Run: r.buildBinaries},
		{Name: "reading the modules each binary links", Run: r.readModules},
		{Name: "classifying the modules' licences", Run: r.classifyLicences},
		{Name: "writing the licences", Run: r.writeLicences},
		{Name: "writing the binaries and their SBOMs", Run: r.writeBinaries},
		{Name: "scanning for known vulnerabilities (govulncheck) and writing the OpenVEX", Run: r.scanVulnerabilities},
		{Name: "building the images and their SBOMs", Run: r.buildImages},
		{Name: "writing the provenance", Run: r.writeProvenance},
		{Name: "signing", Run: r.sign},
		{Name: "writing the manifest and checksums", Run: r.writeManifest},
		{Name: "publishing the release directory", Run: r.publish},
	})
	if err != nil {
		return nil, err
	}
	return &Result{Dir: r.final, Manifest: r.m, Elapsed: time.Since(start), Findings: r.findings}, nil
}

// run is one release in the making: what each step leaves for the next.
type run struct {
	o          Options
	pins       *versions.Pins
	signer     *signing.Signer
	revision   string
	results    map[string]*build.Result // by architecture
	first      build.Provenance         // the first architecture's: what every architecture shares
	gitVersion string
	tag        string
	created    time.Time

	infos    map[string]binInfo // by architecture
	modSet   map[string]sbom.Module
	findings []licenses.Finding

	licenseOf    map[string]string
	licenseTexts map[string][]byte
	classes      map[string]int

	tmp, final string // the directory being written, renamed to final at the end
	w          *writer
	m          *Manifest
	patches    []sbom.Patch
	binaries   map[string]string // the release's hyperkube by architecture
	built      []ociimage.Built
	statement  []byte
}

// binInfo is what a binary's build info says about it.
type binInfo struct {
	main   sbom.Module
	deps   []sbom.Module
	goVer  string
	sha256 string
}

func (r *run) cleanup() {
	if r.tmp != "" {
		os.RemoveAll(r.tmp) // a no-op once renamed
	}
}

func (r *run) checkInputs(ctx context.Context) error {
	o := r.o
	if len(o.Arches) == 0 {
		return fmt.Errorf("no architectures given")
	}
	for _, a := range o.Arches {
		if !slices.Contains(build.Arches, a) {
			return fmt.Errorf("unknown architecture %q (have %s)", a, strings.Join(build.Arches, ", "))
		}
	}
	var err error
	if r.pins, err = versions.Load(o.Root, o.Version); err != nil {
		return err
	}
	if o.Key != nil {
		if r.signer, err = signing.LoadSigner(o.Key); err != nil {
			return err
		}
	}
	if r.revision, err = command.New("git", "-C", o.Root, "rev-parse", "HEAD").Output(ctx); err != nil {
		r.revision = "unknown"
	}
	return nil
}

func (r *run) buildBinaries(ctx context.Context) error {
	o := r.o
	r.results = map[string]*build.Result{}
	for _, arch := range o.Arches {
		res, err := build.Build(ctx, build.Options{Root: o.Root, Version: o.Version, Selection: o.Selection, Arch: arch,
			OutDir: o.OutDir, CacheDir: o.CacheDir, Log: o.Log, Progress: o.Progress, FIPS: o.FIPS})
		if err != nil {
			return err
		}
		r.results[arch] = res
	}
	r.first = r.results[o.Arches[0]].Provenance
	r.gitVersion = r.first.GitVersion
	r.tag = strings.ReplaceAll(r.gitVersion, "+", "_")
	if o.FIPS {
		r.tag += "-fips"
	}
	created, err := time.Parse(time.RFC3339, r.pins.ReleaseTime)
	if err != nil {
		return fmt.Errorf("pins of %s: release time: %w", o.Version, err)
	}
	r.created = created
	return nil
}

// readModules reads every binary's modules: the architectures link the same modules, but each
// is read.
func (r *run) readModules(context.Context) error {
	r.infos, r.modSet = map[string]binInfo{}, map[string]sbom.Module{}
	for arch, res := range r.results {
		main, deps, goVer, err := sbom.ReadBinary(res.Binary, r.pins)
		if err != nil {
			return err
		}
		r.infos[arch] = binInfo{main, deps, goVer, res.Provenance.SHA256}
		r.modSet[main.Path] = main
		for _, d := range deps {
			r.modSet[d.Path] = d
		}
	}
	return nil
}

func (r *run) classifyLicences(ctx context.Context) error {
	r.o.Log("release %s: licences of %d modules", r.o.Version, len(r.modSet))
	findings, err := classify(ctx, r.modSet)
	if err != nil {
		return err
	}
	if bad := licenses.Refused(findings); len(bad) > 0 {
		return fmt.Errorf("licence check: %d modules cannot ship: %s", len(bad), strings.Join(bad, "; "))
	}
	r.findings = findings
	r.licenseOf, r.licenseTexts, r.classes = map[string]string{}, map[string][]byte{}, map[string]int{}
	for _, f := range findings {
		r.licenseOf[f.Module] = f.License
		r.classes[f.Class]++
		for name, text := range f.Texts {
			r.licenseTexts[path.Join(f.Module, name)] = text
		}
	}
	report, err := json.MarshalIndent(findings, "", "  ")
	if err != nil {
		return err
	}
	r.licenseTexts["LICENSES.json"] = append(report, '\n')
	return nil
}

// writeLicences starts the release directory (a temporary one beside its final place) with the
// licence report and every text, and the manifest with what is known so far.
func (r *run) writeLicences(context.Context) error {
	o := r.o
	if err := os.MkdirAll(o.ReleaseDir, 0o755); err != nil {
		return err
	}
	name := o.Version
	if o.FIPS {
		name += "-fips"
	}
	r.final = filepath.Join(o.ReleaseDir, name)
	tmp, err := os.MkdirTemp(o.ReleaseDir, "."+name+"-")
	if err != nil {
		return err
	}
	r.tmp, r.w = tmp, &writer{dir: tmp}
	r.m = &Manifest{
		Schema: Schema, Version: o.Version, GitVersion: r.gitVersion, Tag: r.tag, Revision: r.revision,
		Architectures: o.Arches, Signed: r.signer != nil, Vulnerabilities: NoVulnerabilityScan,
	}
	if o.FIPS {
		if r.m.FIPS, err = build.FIPSModule(); err != nil {
			return err
		}
	}
	r.m.Release = Identity(o.Root, o.Version)
	for _, p := range r.first.Patches {
		r.m.Patches = append(r.m.Patches, filepath.Base(p.Path))
		r.patches = append(r.patches, sbom.Patch{Name: filepath.Base(p.Path), SHA256: p.SHA256})
	}
	for _, name := range slices.Sorted(maps.Keys(r.licenseTexts)) {
		if err := r.w.write(path.Join("licenses", name), r.licenseTexts[name]); err != nil {
			return err
		}
	}
	r.m.Licenses = Licenses{Report: "licenses/LICENSES.json", Modules: len(r.findings), Classes: r.classes}
	r.m.Files = append(r.m.Files, File{Path: r.m.Licenses.Report, Kind: "licenses"})
	return nil
}

// sbomBinary describes the release's hyperkube of one architecture for an SBOM.
func (r *run) sbomBinary(arch string) sbom.Binary {
	in := r.infos[arch]
	return sbom.Binary{Name: "hyperkube", Arch: arch, SHA256: in.sha256, GitVersion: r.gitVersion, GoVersion: in.goVer,
		Main: in.main, Modules: in.deps, Patches: r.patches, Licenses: r.licenseOf, Created: r.pins.ReleaseTime}
}

func (r *run) writeBinaries(context.Context) error {
	r.binaries = map[string]string{}
	for _, arch := range r.o.Arches {
		rel := fmt.Sprintf("bin/linux-%s/hyperkube", arch)
		if err := r.w.link(rel, r.results[arch].Binary); err != nil {
			return err
		}
		r.binaries[arch] = filepath.Join(r.tmp, rel)
		doc, err := sbom.ForBinary(r.sbomBinary(arch))
		if err != nil {
			return err
		}
		sbomPath := fmt.Sprintf("sbom/hyperkube-linux-%s.spdx.json", arch)
		if err := r.w.write(sbomPath, doc); err != nil {
			return err
		}
		r.m.Files = append(r.m.Files, File{Path: rel, Kind: "binary", Arch: arch, SBOM: sbomPath},
			File{Path: sbomPath, Kind: "sbom", Arch: arch})
	}
	return nil
}

// Identity returns our release's identity for version, <version>-hk.N, from the newest entry of
// the repository's CHANGELOG.md that names it; "" when none does.
func Identity(root, version string) string {
	data, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		return ""
	}
	re := regexp.MustCompile(`(?m)^## (` + regexp.QuoteMeta(version) + `-hk\.\d+)\s*$`)
	if m := re.FindSubmatch(data); m != nil {
		return string(m[1])
	}
	return ""
}

// VulnerabilityReport is vulnerabilities.json: the source scan (what the hyperkube calls) and each
// architecture's binary scan (what it links; stripped binaries are read at package precision).
type VulnerabilityReport struct {
	Source   *vuln.Report            `json:"source"`
	Binaries map[string]*vuln.Report `json:"binaries"`
}

// scanVulnerabilities scans the patched tree from source and each hyperkube as built, writes the
// report and the OpenVEX document, and refuses the release when the hyperkube calls a known
// vulnerability nobody made a statement about (build/vex.json).
func (r *run) scanVulnerabilities(ctx context.Context) error {
	o := r.o
	if o.VulnDir == "" {
		return nil
	}
	pins, err := vuln.LoadPins(o.Root)
	if err != nil {
		return err
	}
	stmts, err := vuln.LoadStatements(o.Root)
	if err != nil {
		return err
	}
	tools, err := vuln.Prepare(ctx, pins, o.VulnDir)
	if err != nil {
		return err
	}
	tree, err := build.PrepareHyperkube(ctx, build.Options{Root: o.Root, Version: o.Version, Selection: o.Selection,
		OutDir: o.OutDir, CacheDir: o.CacheDir, Log: o.Log})
	if err != nil {
		return err
	}
	o.Log("release %s: govulncheck ./cmd/hyperkube from source, database %s dated %s (%d entries)", o.Version,
		pins.Database.Version, tools.Date.Format("2006-01-02"), tools.Entries)
	report := VulnerabilityReport{Binaries: map[string]*vuln.Report{}}
	inputs, err := vuln.ProgramInputs(tree.Dir, tree.Commit, filepath.Join("cmd", "hyperkube"))
	if err != nil {
		return err
	}
	var remembered bool
	if report.Source, remembered, err = tools.ScanSourceCached(ctx, tree.Dir, build.GoEnv, inputs, "./cmd/hyperkube"); err != nil {
		return err
	}
	if remembered {
		o.Log("release %s: the source scan of this tree with this database was made before: reused", o.Version)
	}
	report.Source.Target = "k8s.io/kubernetes@" + o.Version + " with the series: ./cmd/hyperkube"
	for _, arch := range o.Arches {
		b, err := tools.ScanBinary(ctx, r.binaries[arch])
		if err != nil {
			return err
		}
		b.Target = fmt.Sprintf("bin/linux-%s/hyperkube", arch)
		report.Binaries[arch] = b
	}
	minor, _ := versions.Minor(o.Version)
	doc, missing := vuln.MakeVEX(report.Source, stmts, "pkg:golang/k8s.io/kubernetes@"+o.Version, minor, sbom.Namespace+"vex/"+r.gitVersion)
	if len(missing) > 0 {
		return fmt.Errorf("the hyperkube calls %d known vulnerabilities with no statement in %s for %s: %s (add one each: affected with an action_statement, or not_affected and why; hk vuln scan --version %s lists them)",
			len(missing), vuln.StatementsFile, minor, strings.Join(missing, ", "), o.Version)
	}
	for name, v := range map[string]any{"vulnerabilities.json": report, "vex.openvex.json": doc} {
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := r.w.write(name, append(data, '\n')); err != nil {
			return err
		}
	}
	r.m.Files = append(r.m.Files, File{Path: "vulnerabilities.json", Kind: "vulnerabilities"}, File{Path: "vex.openvex.json", Kind: "vex"})
	c := report.Source.Counts()
	r.m.Vulnerabilities = fmt.Sprintf("database %s dated %s: %d called (each with a statement in the OpenVEX), %d imported only, %d module only (govulncheck, source mode); vulnerabilities.json, vex.openvex.json",
		pins.Database.Version, tools.Date.Format("2006-01-02"), c[vuln.Called], c[vuln.Imported], c[vuln.Required])
	return nil
}

// buildImages writes one OCI layout with every image and a docker archive per architecture,
// with an SBOM per image and architecture.
func (r *run) buildImages(context.Context) error {
	o, m, tmp := r.o, r.m, r.tmp
	components, err := build.ComponentsOf(o.Root, o.Version)
	if err != nil {
		return err
	}
	nsswitch, err := os.ReadFile(filepath.Join(o.Root, "images", "nsswitch.conf"))
	if err != nil {
		return err
	}
	imageLicenses := maps.Clone(r.licenseTexts)
	o.Log("release %s: %d images × %d architectures", o.Version, len(Images), len(o.Arches))
	built, err := ociimage.Build(ociimage.Input{
		GitVersion: r.gitVersion, Tag: r.tag, Revision: r.revision, Source: Source, Created: r.created,
		NSSwitch: nsswitch, Licenses: imageLicenses, Components: components, Binaries: r.binaries,
	}, Images)
	if err != nil {
		return err
	}
	r.built = built
	if err := ociimage.WriteLayout(filepath.Join(tmp, "images", "oci"), built); err != nil {
		return err
	}
	baseFiles := ociimage.BaseFiles(nsswitch)
	for name, text := range imageLicenses {
		baseFiles[path.Join(ociimage.LicenseDir, name)] = text
	}
	for _, b := range built {
		idxDigest, err := b.Index.Digest()
		if err != nil {
			return err
		}
		im := Image{Name: b.Spec.Name, Ref: b.Ref, Index: idxDigest.String()}
		for _, arch := range o.Arches {
			img := b.Images[arch]
			md, err := img.Digest()
			if err != nil {
				return err
			}
			cfg, err := img.ConfigName()
			if err != nil {
				return err
			}
			doc, err := sbom.ForImage(sbom.Image{Name: b.Spec.Name, Tag: r.tag, ManifestDigest: md.String(),
				Entrypoint: b.Spec.Entrypoint, Binary: r.sbomBinary(arch), Files: baseFiles})
			if err != nil {
				return err
			}
			sbomPath := fmt.Sprintf("images/%s-linux-%s.spdx.json", b.Spec.Name, arch)
			if err := r.w.write(sbomPath, doc); err != nil {
				return err
			}
			m.Files = append(m.Files, File{Path: sbomPath, Kind: "sbom", Arch: arch})
			im.Platforms = append(im.Platforms, Platform{Arch: arch, Manifest: md.String(), Config: cfg.String(), SBOM: sbomPath})
		}
		m.Images = append(m.Images, im)
	}
	for _, arch := range o.Arches {
		rel := fmt.Sprintf("images/docker-linux-%s.tar", arch)
		if err := os.MkdirAll(filepath.Join(tmp, "images"), 0o755); err != nil {
			return err
		}
		if err := ociimage.WriteDockerArchive(filepath.Join(tmp, rel), arch, built); err != nil {
			return err
		}
		m.Files = append(m.Files, File{Path: rel, Kind: "docker-archive", Arch: arch})
	}
	return nil
}

// writeProvenance digests every file artifact and writes the statement: every file and every
// image index is a subject.
func (r *run) writeProvenance(context.Context) error {
	o, m, first := r.o, r.m, r.first
	for i := range m.Files {
		sum, size, err := fileDigest(filepath.Join(r.tmp, m.Files[i].Path))
		if err != nil {
			return err
		}
		m.Files[i].SHA256, m.Files[i].Size = sum, size
	}
	st := provenance.Statement{
		Version: o.Version, Patches: o.Selection, Architectures: o.Arches, GoVersion: first.GoVersion,
		Env: first.Env, Flags: first.Flags, Revision: r.revision,
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
	for _, k := range slices.Sorted(maps.Keys(r.modSet)) {
		mod := r.modSet[k]
		if mod.Sum == "" {
			return fmt.Errorf("module %s@%s has no h1: hash in the build info or the pins", mod.Path, mod.Version)
		}
		st.Dependencies = append(st.Dependencies, provenance.Dependency{Name: mod.Path, URI: "pkg:golang/" + mod.Path + "@" + mod.Version, H1: mod.Sum})
	}
	statement, err := provenance.Marshal(st)
	if err != nil {
		return err
	}
	r.statement = statement
	m.Provenance.Statement = "provenance.intoto.json"
	return r.w.write(m.Provenance.Statement, statement)
}

// sign writes a bundle beside every file, one over each image index, and DSSE for the
// provenance; an unsigned release skips it.
func (r *run) sign(context.Context) error {
	signer, m := r.signer, r.m
	if signer == nil {
		return nil
	}
	r.o.Log("release %s: signing with key %s", r.o.Version, signing.FingerprintHex(string(signer.GetHint())))
	pub, err := signer.GetPublicKeyPem()
	if err != nil {
		return err
	}
	m.KeyFingerprint, m.PublicKey = string(signer.GetHint()), "signing-key.pub"
	if err := r.w.write(m.PublicKey, []byte(pub)); err != nil {
		return err
	}
	for i, f := range m.Files {
		data, err := os.ReadFile(filepath.Join(r.tmp, f.Path))
		if err != nil {
			return err
		}
		b, err := signer.SignBlob(data)
		if err != nil {
			return err
		}
		m.Files[i].Signature = f.Path + ".sigstore.json"
		if err := r.w.write(m.Files[i].Signature, b); err != nil {
			return err
		}
	}
	for i, b := range r.built {
		raw, err := b.Index.RawManifest()
		if err != nil {
			return err
		}
		bundle, err := signer.SignBlob(raw)
		if err != nil {
			return err
		}
		m.Images[i].Signature = "images/" + b.Spec.Name + ".index.sigstore.json"
		if err := r.w.write(m.Images[i].Signature, bundle); err != nil {
			return err
		}
	}
	bundle, err := signer.SignStatement(r.statement)
	if err != nil {
		return err
	}
	m.Provenance.Bundle = "provenance.intoto.sigstore.json"
	return r.w.write(m.Provenance.Bundle, bundle)
}

// writeManifest writes manifest.json (signed when the release is) and the checksums of every
// file.
func (r *run) writeManifest(context.Context) error {
	data, err := json.MarshalIndent(r.m, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if err := r.w.write(ManifestFile, data); err != nil {
		return err
	}
	if r.signer != nil {
		b, err := r.signer.SignBlob(data)
		if err != nil {
			return err
		}
		if err := r.w.write(ManifestFile+".sigstore.json", b); err != nil {
			return err
		}
	}
	return writeSums(r.tmp)
}

// publish renames the finished directory into place.
func (r *run) publish(context.Context) error {
	if err := os.Chmod(r.tmp, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(r.final); err != nil {
		return err
	}
	if err := os.Rename(r.tmp, r.final); err != nil {
		return err
	}
	r.tmp = ""
	return nil
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
