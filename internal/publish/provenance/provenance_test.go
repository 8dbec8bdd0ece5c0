package provenance

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func statement() Statement {
	return Statement{
		Subjects: []Subject{
			{Name: "bin/linux-arm64/hyperkube", SHA256: strings.Repeat("b", 64)},
			{Name: "bin/linux-amd64/hyperkube", SHA256: strings.Repeat("a", 64)},
		},
		Version: "v1.37.2", Patches: "all", Architectures: []string{"amd64", "arm64"}, GoVersion: "go1.26.8",
		Env: []string{"CGO_ENABLED=0"}, Flags: []string{"build", "-trimpath"}, Revision: "abc",
		Dependencies: []Dependency{
			{Name: "k8s.io/api", URI: "pkg:golang/k8s.io/api@v0.37.2", H1: "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
			{Name: "patches/v1.37/0001-x.patch", SHA256: strings.Repeat("c", 64)},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	data, err := Marshal(statement())
	if err != nil {
		t.Fatal(err)
	}
	got, err := Subjects(data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bin/linux-amd64/hyperkube": strings.Repeat("a", 64), "bin/linux-arm64/hyperkube": strings.Repeat("b", 64)}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("subjects (-want +got):\n%s", d)
	}
	for _, s := range []string{`"predicateType": "https://slsa.dev/provenance/v1"`, `"buildType": "` + BuildType + `"`,
		// h1:47DEQ… is the dirhash of an empty tree, sha256("") in base64.
		`"dirHash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"`} {
		if !strings.Contains(string(data), s) {
			t.Errorf("statement lacks %s:\n%s", s, data)
		}
	}
	again, _ := Marshal(statement())
	if !bytes.Equal(data, again) {
		t.Error("two statements of the same build differ")
	}
}

func TestRejects(t *testing.T) {
	bad := statement()
	bad.Dependencies = append(bad.Dependencies, Dependency{Name: "x", H1: "sha256:00"})
	if _, err := Marshal(bad); err == nil {
		t.Error("a dependency with a non-h1 hash was accepted")
	}
	if _, err := Subjects([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"00"}}],"predicateType":"other","predicate":{}}`)); err == nil {
		t.Error("a statement with another predicate type was accepted")
	}
}
