package ociimage

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// tinyBinary builds a real static Go program stamped like hyperkube, for one architecture.
func tinyBinary(t *testing.T, arch, version string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"go.mod": "module tiny\ngo 1.26\n",
		// Answers like hyperkube: `kube-apiserver --version` prints the stamped version.
		"main.go": "package main\nimport \"fmt\"\nvar gitVersion string\nfunc main() { fmt.Println(\"Kubernetes \" + gitVersion) }\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "hyperkube")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X 'main.gitVersion="+version+"'", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOWORK=off", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func input(t *testing.T) Input {
	return Input{
		GitVersion: "v1.2.3+hk.abc", Tag: "v1.2.3_hk.abc", Revision: "rev", Source: "src",
		Created:  time.Date(2026, 10, 27, 12, 0, 0, 0, time.UTC),
		NSSwitch: []byte("hosts: files dns\n"), Licenses: map[string][]byte{"example.com/m/LICENSE": []byte("MIT")},
		Components: []string{"kube-apiserver"},
		Binaries:   map[string]string{"amd64": tinyBinary(t, "amd64", "v1.2.3+hk.abc"), "arm64": tinyBinary(t, "arm64", "v1.2.3+hk.abc")},
	}
}

var specs = []Spec{{Name: "hyperkube", Entrypoint: "/usr/local/bin/hyperkube"}, {Name: "kube-apiserver", Entrypoint: "/usr/local/bin/kube-apiserver"}}

func digests(t *testing.T, built []Built) string {
	var b strings.Builder
	for _, im := range built {
		d, err := im.Index.Digest()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s\n", im.Ref, d)
	}
	return b.String()
}

func TestBuildIsReproducibleAndValid(t *testing.T) {
	in := input(t)
	a, err := Build(in, specs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(in, specs)
	if err != nil {
		t.Fatal(err)
	}
	if digests(t, a) != digests(t, b) {
		t.Fatalf("two builds of the same input differ:\n%s\n%s", digests(t, a), digests(t, b))
	}
	dir := t.TempDir()
	if err := WriteLayout(filepath.Join(dir, "oci"), a); err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(filepath.Join(dir, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("layout does not validate: %v", err)
	}
	img := a[1].Images["arm64"]
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != "arm64" || cf.Config.Entrypoint[0] != "/usr/local/bin/kube-apiserver" || !cf.Created.Time.Equal(in.Created) {
		t.Errorf("config: arch %s entrypoint %v created %v", cf.Architecture, cf.Config.Entrypoint, cf.Created)
	}
	// The image's files: read back from its layers, as a runtime would see them.
	rc := mutate.Extract(img)
	defer rc.Close()
	tmp := filepath.Join(dir, "fs.tar")
	f, _ := os.Create(tmp)
	if _, err := f.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("tar", "-tvf", tmp).CombinedOutput()
	if err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	for _, want := range []string{"etc/nsswitch.conf", "usr/local/bin/kube-apiserver -> hyperkube", "usr/share/doc/hyperkube/licenses/example.com/m/LICENSE", "drwxrwxrwt"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("image lacks %q:\n%s", want, out)
		}
	}

	// Docker archives: the same images give the same bytes.
	sum := func(name string, built []Built) string {
		p := filepath.Join(dir, name)
		if err := WriteDockerArchive(p, runtime.GOARCH, built); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(p)
		return fmt.Sprintf("%x", sha256.Sum256(data))
	}
	if sum("a.tar", a) != sum("b.tar", b) {
		t.Error("two docker archives of the same images differ")
	}
}

func TestBuildRefuses(t *testing.T) {
	in := input(t)
	in.NSSwitch = []byte("hosts: dns files\n")
	if _, err := Build(in, specs); err == nil || !strings.Contains(err.Error(), "hosts: files dns") {
		t.Errorf("a DNS-first nsswitch.conf: %v", err)
	}
	in = input(t)
	in.GitVersion = "v9.9.9"
	if _, err := Build(in, specs); err == nil || !strings.Contains(err.Error(), "v9.9.9") {
		t.Errorf("a binary stamped with another version: %v", err)
	}
	if err := CheckVersion(in.Binaries["arm64"], "arm64", "v9.9.9"); err == nil {
		t.Error("a foreign binary stamped with another version passed")
	}
	if err := CheckVersion(in.Binaries["arm64"], "amd64", "v1.2.3+hk.abc"); err == nil {
		t.Error("an arm64 binary passed as amd64")
	}
}
