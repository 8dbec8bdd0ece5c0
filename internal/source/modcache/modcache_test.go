package modcache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"
)

func TestVerifyCatchesAnEditedFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "m.go"), []byte("package m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pinned, err := dirhash.HashDir(dir, "example.com/m@v1.0.0", dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify("example.com/m", "v1.0.0", dir, pinned); err != nil {
		t.Fatalf("pristine module rejected: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "m.go"), []byte("package m\n\nfunc Evil() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = Verify("example.com/m", "v1.0.0", dir, pinned)
	if err == nil || !strings.Contains(err.Error(), "example.com/m@v1.0.0 does not match its pin") {
		t.Fatalf("edited module accepted or badly reported: %v", err)
	}
}
