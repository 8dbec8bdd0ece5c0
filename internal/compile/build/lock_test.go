package build

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// An up to date build returns at once while another build holds the compile lock (make test runs
// proofs beside the build lane, and their up-to-date checks must not wait for its compiles); a
// build of the same output waits for the one in progress.
func TestUpToDateBuildDoesNotWaitForACompile(t *testing.T) {
	root := t.TempDir() // pins and an overlay naming kube-apiserver: all begin reads
	for name, content := range map[string]string{
		"build/versions/v1.37.2.json":         `{"kubernetes": {"path": "k8s.io/kubernetes", "version": "v1.37.2", "sum": "h1:AAAA"}}`,
		"build/hyperkube/v1.37/components.go": "package main\n\nvar components = map[string]func() int{\n\t\"kube-apiserver\": func() int { return 0 },\n}\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{Root: root, Version: "v1.37.2", Selection: "none", Target: "kube-apiserver", OutDir: t.TempDir(), Log: t.Logf}
	ctx := context.Background()
	in, err := begin(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	dir := o.outputDir(in.label)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kube-apiserver")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, _ := fileSHA256(bin)
	data, _ := json.Marshal(Provenance{InputsDigest: in.digest, SHA256: sum})
	if err := os.WriteFile(filepath.Join(dir, "provenance.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	in.unlock()

	unlockCompile, err := compiling(o)
	if err != nil {
		t.Fatal(err)
	}
	defer unlockCompile()
	done := make(chan error, 1)
	go func() {
		res, err := Build(ctx, o)
		if err == nil && res.Binary != bin {
			t.Errorf("up to date build returned %s, want %s", res.Binary, bin)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("an up to date build waited for the compile lock")
	}

	// While another process holds the output's own lock, a Build of it waits until released.
	held, err := begin(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() { _, err := Build(ctx, o); second <- err }()
	select {
	case <-second:
		t.Fatal("a build of an output another process holds did not wait")
	case <-time.After(500 * time.Millisecond):
	}
	held.unlock()
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}
