package sbom

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func binary() Binary {
	return Binary{
		Name: "hyperkube", Arch: "amd64", SHA256: strings.Repeat("a", 64), GitVersion: "v1.37.2+hk.abc", GoVersion: "go1.26.8",
		Main: Module{Path: "k8s.io/kubernetes", Version: "v1.37.2", Sum: "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
		Modules: []Module{
			{Path: "k8s.io/api", Version: "v0.37.2", Sum: "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
			{Path: "golang.org/x/net", Version: "v0.1.0"},
		},
		Patches:  []Patch{{Name: "0001-apiserver-x.patch", SHA256: strings.Repeat("c", 64)}},
		Licenses: map[string]string{"k8s.io/kubernetes": "Apache-2.0", "k8s.io/api": "Apache-2.0"},
		Created:  "2026-10-27T12:01:04Z",
	}
}

func TestBinaryDocument(t *testing.T) {
	doc, err := ForBinary(binary())
	if err != nil {
		t.Fatal(err)
	}
	got, err := Describes(doc)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{strings.Repeat("a", 64)}, got); d != "" {
		t.Errorf("described checksums (-want +got):\n%s", d)
	}
	for _, s := range []string{
		`"spdxVersion": "SPDX-2.3"`, `"pkg:golang/k8s.io/api@v0.37.2"`,
		// the h1: of the empty tree in hex: a module's hash, comparable with go.sum
		`"checksumValue": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"`,
		`"relationshipType": "PATCH_APPLIED"`, `"name": "0001-apiserver-x.patch"`, `"licenseConcluded": "Apache-2.0"`,
		`"created": "2026-10-27T12:01:04Z"`,
		`"referenceLocator": "cpe:2.3:a:kubernetes:kubernetes:1.37.2:*:*:*:*:*:*:*"`, `"referenceLocator": "pkg:golang/k8s.io/kubernetes@v1.37.2"`,
		`"name": "hardened-hyperkube-series"`, `"referenceLocator": "pkg:generic/hardened-hyperkube-series@v1.37.2%2Bhk.abc"`,
	} {
		if !strings.Contains(string(doc), s) {
			t.Errorf("document lacks %s", s)
		}
	}
	again, _ := ForBinary(binary())
	if string(again) != string(doc) {
		t.Error("two documents of the same binary differ")
	}
}

func TestImageDocument(t *testing.T) {
	doc, err := ForImage(Image{Name: "kube-apiserver", Tag: "v1.37.2_hk.abc", ManifestDigest: "sha256:" + strings.Repeat("d", 64),
		Entrypoint: "/usr/local/bin/kube-apiserver", Binary: binary(), Files: map[string][]byte{"etc/nsswitch.conf": []byte("hosts: files dns\n")}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Describes(doc)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{strings.Repeat("d", 64)}, got); d != "" {
		t.Errorf("described checksums (-want +got):\n%s", d)
	}
	if !strings.Contains(string(doc), `"fileName": "./etc/nsswitch.conf"`) {
		t.Error("image document lacks its nsswitch.conf")
	}
	if _, err := Describes([]byte(`{"spdxVersion":"SPDX-2.2"}`)); err == nil {
		t.Error("an SPDX 2.2 document was accepted")
	}
}
