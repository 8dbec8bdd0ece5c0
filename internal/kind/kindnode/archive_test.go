package kindnode

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestImageTag(t *testing.T) {
	for in, want := range map[string]string{"v1.37.2+hk.5b399477351f": "v1.37.2_hk.5b399477351f", "v1.37.2": "v1.37.2"} {
		if got := ImageTag(in); got != want {
			t.Errorf("ImageTag(%q) = %q, want %q", in, got, want)
		}
	}
}

// Same files, same layer digest (whatever their owners and times); two images sharing a layer
// store it once; the archive is what docker load reads.
func TestArchive(t *testing.T) {
	work := t.TempDir()
	layer := func(name string) Layer {
		dir := filepath.Join(work, name)
		os.MkdirAll(filepath.Join(dir, "usr/local/bin"), 0o755)
		os.WriteFile(filepath.Join(dir, "usr/local/bin/hyperkube"), []byte("binary"), 0o755)
		os.Symlink("hyperkube", filepath.Join(dir, "usr/local/bin/kubelet"))
		l, err := WriteLayer(dir, filepath.Join(work, name+".tar"))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a := layer("a")
	os.Chtimes(filepath.Join(work, "b"), time.Now(), time.Now())
	b := layer("b")
	if a.Digest != b.Digest {
		t.Fatalf("same files, different layers: %s %s", a.Digest, b.Digest)
	}
	if l, _ := NewLayer(a.Path); l.Digest != a.Digest {
		t.Fatalf("NewLayer %s, WriteLayer %s", l.Digest, a.Digest)
	}
	created := time.Date(2026, 10, 27, 12, 1, 4, 0, time.UTC)
	images := []ImageSpec{
		{Tags: []string{"registry.k8s.io/kube-apiserver:v1.37.2_hk.x"}, Layers: []Layer{a}},
		{Tags: []string{"registry.k8s.io/kube-scheduler:v1.37.2_hk.x"}, Layers: []Layer{a}, Entrypoint: []string{"/x"}},
	}
	write := func(name string) []byte {
		p := filepath.Join(work, name)
		if err := WriteArchive(p, images, created); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(p)
		return data
	}
	first, second := write("one.tar"), write("two.tar")
	if !bytes.Equal(first, second) {
		t.Error("equal inputs gave different archives")
	}
	tr := tar.NewReader(bytes.NewReader(first))
	var names []string
	var manifest []manifestEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "manifest.json" {
			data, _ := io.ReadAll(tr)
			if err := json.Unmarshal(data, &manifest); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(names) != 4 { // one layer, two configs, the manifest
		t.Errorf("archive entries %v, want the shared layer once", names)
	}
	if diff := cmp.Diff([]string{a.Digest + "/layer.tar"}, manifest[1].Layers); diff != "" || manifest[0].Config == manifest[1].Config {
		t.Errorf("manifest %+v", manifest)
	}
}
