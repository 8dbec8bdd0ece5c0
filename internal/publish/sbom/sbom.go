// Package sbom writes SPDX 2.3 JSON documents for a hyperkube binary and for the images that
// carry it: every linked module with its version and h1: hash (read from the binary's build
// info, staging modules from the pins), the upstream release, the Go toolchain and our patches.
package sbom

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// Namespace prefixes every document's namespace; the artifact's digest makes it unique.
const Namespace = "https://github.com/hardened-hyperkube/hk/spdx/"

// Module is one module linked into a binary, as its build info and the pins describe it.
type Module struct {
	Path    string
	Version string
	Sum     string // h1: hash; empty only when neither the build info nor the pins know it
}

// Patch is one patch of the series, by file name and content hash.
type Patch struct {
	Name   string
	SHA256 string
}

// Binary describes one built binary and what it was built from.
type Binary struct {
	Name       string // file name in the release, e.g. hyperkube
	Arch       string
	SHA256     string
	GitVersion string
	GoVersion  string
	Main       Module   // k8s.io/kubernetes
	Modules    []Module // every dependency, sorted by path
	Patches    []Patch
	Licenses   map[string]string // module path → SPDX licence expression
	Created    string            // RFC 3339; the release time, so documents are reproducible
}

// ReadBinary reads a binary's build info; staging modules, which the build replaces with
// ./staging copies and so carry no hash, take version and hash from the pins.
func ReadBinary(path string, pins *versions.Pins) (main Module, deps []Module, goVersion string, err error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return Module{}, nil, "", fmt.Errorf("read build info of %s: %w", path, err)
	}
	pinned := map[string]versions.Module{}
	for _, m := range pins.All() {
		pinned[m.Path] = m
	}
	main = Module{Path: bi.Main.Path, Version: pins.Kubernetes.Version, Sum: pins.Kubernetes.Sum}
	for _, d := range bi.Deps {
		m := Module{Path: d.Path, Version: d.Version, Sum: d.Sum}
		if d.Replace != nil {
			if p, ok := pinned[d.Path]; ok && strings.HasPrefix(d.Replace.Path, "./staging/") {
				m.Version, m.Sum = p.Version, p.Sum
			} else {
				m.Version, m.Sum = d.Replace.Version, d.Replace.Sum
			}
		}
		deps = append(deps, m)
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].Path < deps[j].Path })
	return main, deps, bi.GoVersion, nil
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func elementID(kind, name string) common.ElementID {
	return common.ElementID(kind + "-" + strings.Trim(idUnsafe.ReplaceAllString(name, "-"), "-"))
}

// h1Hex turns a go.sum h1: hash into the hex SHA-256 SPDX checksums carry.
func h1Hex(sum string) string {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sum, "h1:"))
	if err != nil || !strings.HasPrefix(sum, "h1:") {
		return ""
	}
	return hex.EncodeToString(raw)
}

func modulePackage(m Module, licenses map[string]string) *spdx.Package {
	p := &spdx.Package{
		PackageName:             m.Path,
		PackageSPDXIdentifier:   elementID("Module", m.Path),
		PackageVersion:          m.Version,
		PackageDownloadLocation: "https://proxy.golang.org/" + m.Path + "/@v/" + m.Version + ".zip",
		PackageLicenseConcluded: nonEmpty(licenses[m.Path], "NOASSERTION"),
		PackageLicenseDeclared:  "NOASSERTION",
		PackageCopyrightText:    "NOASSERTION",
		PrimaryPackagePurpose:   "LIBRARY",
		PackageExternalReferences: []*spdx.PackageExternalReference{{
			Category: "PACKAGE-MANAGER", RefType: "purl", Locator: "pkg:golang/" + m.Path + "@" + m.Version,
		}},
	}
	if hx := h1Hex(m.Sum); hx != "" {
		p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: hx}}
		p.PackageComment = "SHA256 is the Go module hash " + m.Sum + " (golang.org/x/mod/sumdb/dirhash) in hex"
	}
	return p
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// binaryPackages are the packages and relationships that describe a binary; its own package
// comes first.
func binaryPackages(b Binary) ([]*spdx.Package, []*spdx.Relationship) {
	binID := elementID("Binary", b.Name+"-linux-"+b.Arch)
	bin := &spdx.Package{
		PackageName: b.Name, PackageSPDXIdentifier: binID, PackageVersion: b.GitVersion,
		PackageFileName: b.Name, PackageDownloadLocation: "NOASSERTION",
		PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: b.SHA256}},
		PackageLicenseConcluded: nonEmpty(b.Licenses[b.Main.Path], "NOASSERTION"),
		PackageLicenseDeclared:  "NOASSERTION", PackageCopyrightText: "NOASSERTION",
		PrimaryPackagePurpose: "APPLICATION",
		PackageComment:        fmt.Sprintf("static linux/%s binary built with %s", b.Arch, b.GoVersion),
	}
	pkgs := []*spdx.Package{bin}
	rels := []*spdx.Relationship{}
	upstream := modulePackage(b.Main, b.Licenses)
	upstream.PrimaryPackagePurpose = "SOURCE"
	if b.Main.Path == "k8s.io/kubernetes" {
		// What scanners match Kubernetes by (NVD's CPE for it), beside the Go module's PURL.
		upstream.PackageExternalReferences = append(upstream.PackageExternalReferences, &spdx.PackageExternalReference{
			Category: "SECURITY", RefType: "cpe23Type",
			Locator: "cpe:2.3:a:kubernetes:kubernetes:" + strings.TrimPrefix(b.Main.Version, "v") + ":*:*:*:*:*:*:*",
		})
	}
	pkgs = append(pkgs, upstream)
	rels = append(rels, rel(binID, "GENERATED_FROM", upstream.PackageSPDXIdentifier))
	goPkg := &spdx.Package{
		PackageName: "go", PackageSPDXIdentifier: "SPDXRef-Toolchain-go", PackageVersion: b.GoVersion,
		PackageDownloadLocation: "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-" + b.GoVersion + ".linux-amd64.zip",
		PackageLicenseConcluded: "BSD-3-Clause", PackageLicenseDeclared: "BSD-3-Clause", PackageCopyrightText: "NOASSERTION",
		PrimaryPackagePurpose: "LIBRARY",
		PackageComment:        "the Go toolchain; its standard library is linked into the binary",
		PackageExternalReferences: []*spdx.PackageExternalReference{{
			Category: "PACKAGE-MANAGER", RefType: "purl", Locator: "pkg:golang/stdlib@" + strings.TrimPrefix(b.GoVersion, "go"),
		}},
	}
	pkgs = append(pkgs, goPkg)
	rels = append(rels, rel(binID, "STATIC_LINK", goPkg.PackageSPDXIdentifier))
	for _, m := range b.Modules {
		p := modulePackage(m, b.Licenses)
		pkgs = append(pkgs, p)
		rels = append(rels, rel(binID, "STATIC_LINK", p.PackageSPDXIdentifier))
	}
	var seriesID common.ElementID
	if len(b.Patches) > 0 {
		// The series as one package of its own, so a consumer sees that this is Kubernetes
		// v1.37.2 plus our patches, and which.
		h := sha256.New()
		for _, pt := range b.Patches {
			fmt.Fprintf(h, "%s %s\n", pt.Name, pt.SHA256)
		}
		seriesID = "SPDXRef-Series"
		pkgs = append(pkgs, &spdx.Package{
			PackageName: "hardened-hyperkube-series", PackageSPDXIdentifier: seriesID, PackageVersion: b.GitVersion,
			PackageDownloadLocation: "NOASSERTION",
			PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: hex.EncodeToString(h.Sum(nil))}},
			PackageLicenseConcluded: "Apache-2.0", PackageLicenseDeclared: "Apache-2.0", PackageCopyrightText: "NOASSERTION",
			PrimaryPackagePurpose: "SOURCE",
			PackageComment: fmt.Sprintf("our patch series: %d patches applied with git am to %s@%s; SHA256 over \"<name> <sha256>\\n\" of each, in order",
				len(b.Patches), b.Main.Path, b.Main.Version),
			PackageExternalReferences: []*spdx.PackageExternalReference{{
				Category: "PACKAGE-MANAGER", RefType: "purl", Locator: "pkg:generic/hardened-hyperkube-series@" + strings.ReplaceAll(b.GitVersion, "+", "%2B"),
			}},
		})
		rels = append(rels, rel(binID, "GENERATED_FROM", seriesID))
	}
	for _, pt := range b.Patches {
		p := &spdx.Package{
			PackageName: pt.Name, PackageSPDXIdentifier: elementID("Patch", pt.Name), PackageVersion: b.GitVersion,
			PackageFileName: "patches/" + pt.Name, PackageDownloadLocation: "NOASSERTION",
			PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: pt.SHA256}},
			PackageLicenseConcluded: "Apache-2.0", PackageLicenseDeclared: "Apache-2.0", PackageCopyrightText: "NOASSERTION",
			PrimaryPackagePurpose: "SOURCE",
			PackageComment:        "git format-patch applied with git am to " + b.Main.Path + "@" + b.Main.Version,
		}
		pkgs = append(pkgs, p)
		rels = append(rels, rel(p.PackageSPDXIdentifier, "PATCH_APPLIED", upstream.PackageSPDXIdentifier), rel(seriesID, "CONTAINS", p.PackageSPDXIdentifier))
	}
	return pkgs, rels
}

func rel(a common.ElementID, kind string, b common.ElementID) *spdx.Relationship {
	return &spdx.Relationship{RefA: common.MakeDocElementID("", string(a)), RefB: common.MakeDocElementID("", string(b)), Relationship: kind}
}

// ForBinary returns the SPDX JSON document of one binary.
func ForBinary(b Binary) ([]byte, error) {
	pkgs, rels := binaryPackages(b)
	return write(document(b.Name+"-"+b.GitVersion+"-linux-"+b.Arch, b.SHA256, b.Created, pkgs[0].PackageSPDXIdentifier, pkgs, rels))
}

// Image describes one image for one architecture.
type Image struct {
	Name           string // e.g. kube-apiserver
	Tag            string
	ManifestDigest string // sha256:…
	Entrypoint     string
	Binary         Binary
	Files          map[string][]byte // path in the image → content, for files outside the binary
}

// ForImage returns the SPDX JSON document of one image: the image, the files it adds and
// everything its binary's document lists.
func ForImage(im Image) ([]byte, error) {
	hexDigest := strings.TrimPrefix(im.ManifestDigest, "sha256:")
	imgID := elementID("Image", im.Name+"-linux-"+im.Binary.Arch)
	img := &spdx.Package{
		PackageName: im.Name, PackageSPDXIdentifier: imgID, PackageVersion: im.Tag,
		PackageDownloadLocation: "NOASSERTION",
		PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: hexDigest}},
		PackageLicenseConcluded: "NOASSERTION", PackageLicenseDeclared: "NOASSERTION", PackageCopyrightText: "NOASSERTION",
		PrimaryPackagePurpose: "CONTAINER",
		PackageComment:        "OCI image manifest " + im.ManifestDigest + ", entrypoint " + im.Entrypoint,
		PackageExternalReferences: []*spdx.PackageExternalReference{{
			Category: "PACKAGE-MANAGER", RefType: "purl",
			Locator: "pkg:oci/" + im.Name + "@" + strings.ReplaceAll(im.ManifestDigest, ":", "%3A") + "?arch=" + im.Binary.Arch + "&tag=" + im.Tag,
		}},
	}
	pkgs, rels := binaryPackages(im.Binary)
	rels = append(rels, rel(imgID, "CONTAINS", pkgs[0].PackageSPDXIdentifier))
	var files []*spdx.File
	var paths []string
	for p := range im.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		s1 := sha1.Sum(im.Files[p])
		f := &spdx.File{
			FileName: "./" + strings.TrimPrefix(p, "/"), FileSPDXIdentifier: elementID("File", p),
			// SPDX 2.3 makes SHA1 mandatory for files; SHA256 is what everything else here uses.
			Checksums: []common.Checksum{{Algorithm: common.SHA1, Value: hex.EncodeToString(s1[:])},
				{Algorithm: common.SHA256, Value: SHA256(im.Files[p])}},
			LicenseConcluded:   "NOASSERTION",
			FileCopyrightText:  "NOASSERTION",
			LicenseInfoInFiles: []string{"NOASSERTION"},
		}
		files = append(files, f)
		rels = append(rels, rel(imgID, "CONTAINS", f.FileSPDXIdentifier))
	}
	doc := document(im.Name+"-"+im.Tag+"-linux-"+im.Binary.Arch, hexDigest, im.Binary.Created, imgID, append([]*spdx.Package{img}, pkgs...), rels)
	doc.Files = files
	return write(doc)
}

func document(name, digest, created string, describes common.ElementID, pkgs []*spdx.Package, rels []*spdx.Relationship) *spdx.Document {
	return &spdx.Document{
		SPDXVersion: spdx.Version, DataLicense: spdx.DataLicense, SPDXIdentifier: "DOCUMENT",
		DocumentName: name, DocumentNamespace: Namespace + name + "-" + digest,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "hk"}, {CreatorType: "Organization", Creator: "hardened-hyperkube"}},
			Created:  created,
		},
		Packages:      pkgs,
		Relationships: append([]*spdx.Relationship{rel("DOCUMENT", "DESCRIBES", describes)}, rels...),
	}
}

func write(doc *spdx.Document) ([]byte, error) {
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  ")); err != nil {
		return nil, fmt.Errorf("write SPDX: %w", err)
	}
	return buf.Bytes(), nil
}

// Describes reads an SPDX JSON document and returns the SHA-256 checksums of the packages the
// document describes, so a verifier can tie the document to an artifact.
func Describes(data []byte) ([]string, error) {
	// The reader converts older versions to 2.3, so the version is read off the bytes.
	var head struct {
		SPDXVersion string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil || head.SPDXVersion != spdx.Version {
		return nil, fmt.Errorf("not an %s JSON document (spdxVersion %q)", spdx.Version, head.SPDXVersion)
	}
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not an SPDX document: %w", err)
	}
	described := map[common.ElementID]bool{}
	for _, r := range doc.Relationships {
		if r.Relationship == "DESCRIBES" && r.RefA.ElementRefID == "DOCUMENT" {
			described[r.RefB.ElementRefID] = true
		}
	}
	var sums []string
	for _, p := range doc.Packages {
		if !described[p.PackageSPDXIdentifier] {
			continue
		}
		for _, c := range p.PackageChecksums {
			if c.Algorithm == common.SHA256 {
				sums = append(sums, c.Value)
			}
		}
	}
	return sums, nil
}

// SHA256 is a helper for callers that hash small files they hold in memory.
func SHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
