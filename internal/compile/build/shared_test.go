package build

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// A shared build is used only whole and unchanged: the inputs digest must match and the binary
// must still have its recorded checksum; the copy keeps the component symlinks.
func TestSharedCopyIsCheckedAndWhole(t *testing.T) {
	src := t.TempDir()
	bin := filepath.Join(src, "hyperkube")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := fileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("hyperkube", filepath.Join(src, "kubelet")); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(Provenance{InputsDigest: "want", SHA256: sum})
	if err := os.WriteFile(filepath.Join(src, "provenance.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := existing(src, "hyperkube", "other"); ok {
		t.Error("a build with other inputs was accepted")
	}
	parent := t.TempDir()
	dst := filepath.Join(parent, "v1.37.2")
	if err := placeCopy(src, parent, dst); err != nil {
		t.Fatal(err)
	}
	if _, ok := existing(dst, "hyperkube", "want"); !ok {
		t.Fatal("the copy is not accepted")
	}
	if target, err := os.Readlink(filepath.Join(dst, "kubelet")); err != nil || target != "hyperkube" {
		t.Errorf("symlink kubelet: %q, %v", target, err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("placeCopy left %d entries in the parent, want 1", len(entries))
	}
	if err := os.Remove(bin); err != nil { // a changed binary: hard links share it, so rewrite
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("changed"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok := existing(src, "hyperkube", "want"); ok {
		t.Error("a binary that no longer matches its checksum was accepted")
	}
}
