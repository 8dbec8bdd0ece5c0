package conformance

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/hardened-hyperkube/hk/internal/kind/kindnode"
)

// The registry serves the archive's images under their tags' paths, as containerd asks a
// docker.io mirror, with the same image IDs the nodes hold.
func TestServeRegistryServesTheArchive(t *testing.T) {
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	if err := os.MkdirAll(files, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files, "hello"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	layer, err := kindnode.WriteLayer(files, filepath.Join(dir, "layer.tar"))
	if err != nil {
		t.Fatal(err)
	}
	tag := Registry + "/kitten:1.8"
	archive := filepath.Join(dir, "images.tar")
	if err := kindnode.WriteArchive(archive, []kindnode.ImageSpec{{Tags: []string{tag}, Layers: []kindnode.Layer{layer}, Cmd: []string{"test-webserver"}}}, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ServeRegistry(ctx, archive, []string{tag}, "127.0.0.1:0", func(addr string, n int) { addrs <- addr })
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("ServeRegistry: %v", err)
	}
	ref, err := name.ParseReference(addr+"/hk/e2e-test-images/kitten:1.8", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull from the registry: %v", err)
	}
	want, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	gotID, _ := got.ConfigName()
	wantID, _ := want.ConfigName()
	if gotID != wantID {
		t.Errorf("served image ID %s, archive's %s", gotID, wantID)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeRegistry after cancel: %v", err)
	}
}
