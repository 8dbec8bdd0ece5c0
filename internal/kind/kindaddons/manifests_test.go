package kindaddons

import (
	"context"
	"os"
	"strings"
	"testing"
)

// The manifests come from the projects' own releases (the module cache, filled through the
// proxy): a release that moves what we edit must fail here, not in a cluster.
func TestManifestsFromTheProjects(t *testing.T) {
	if testing.Short() || os.Getenv("TEST_SRCDIR") != "" {
		t.Skip("skipping: reads flannel and kind through the go command and the module proxy (not in -short or Bazel's sandbox)")
	}
	ctx := context.Background()
	cni, err := CNIManifest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"would you kindly template this file", `"Network": "{{ .PodSubnet }}"`, `"Type": "host-gw"`, `"cniVersion": "0.3.1"`} {
		if !strings.Contains(cni.YAML, want) {
			t.Errorf("CNI manifest lacks %s", want)
		}
	}
	wantImages := []string{FlannelCNIPluginImage, "ghcr.io/flannel-io/flannel:" + version(FlannelModule)}
	if strings.Join(cni.Images, " ") != strings.Join(wantImages, " ") {
		t.Errorf("CNI manifest images = %v, want %v", cni.Images, wantImages)
	}
	st, err := StorageManifest(ctx, "sigs.k8s.io/kind@v0.33.0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.YAML, "storageclass.kubernetes.io/is-default-class: \"true\"") || len(st.Images) != 2 ||
		!strings.HasPrefix(st.Images[0], "docker.io/kindest/local-path-provisioner:") || !strings.HasPrefix(st.Images[1], "docker.io/kindest/local-path-helper:") {
		t.Errorf("storage manifest: images %v\n%s", st.Images, st.YAML)
	}
}
