package tree

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/source/modproxy"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// Stages of make test materialize the same release at once: one builds the tree, the others wait
// and find it built. Before, each built and renamed its own, and the last rename removed the tree
// a worktree had been added to ("not a git repository: …/pristine/.git/worktrees/work-patched").
func TestConcurrentMaterializeBuildsTheTreeOnce(t *testing.T) {
	proxy, cache := t.TempDir(), t.TempDir()
	for _, kv := range modproxy.Env(proxy, cache) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Cleanup(func() { exec.Command("go", "clean", "-modcache").Run() }) // its files are read-only
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sum, err := modproxy.Publish(proxy, "k8s.io/kubernetes", "v1.99.0", map[string]string{
		"go.mod": "module k8s.io/kubernetes\n\ngo 1.26\n",
		"a.go":   "package kubernetes\n",
	}, at)
	if err != nil {
		t.Fatal(err)
	}
	api, err := modproxy.Publish(proxy, "k8s.io/api", "v0.99.0", map[string]string{
		"go.mod": "module k8s.io/api\n\ngo 1.26\n",
		"b.go":   "package api\n",
	}, at)
	if err != nil {
		t.Fatal(err)
	}
	p := &versions.Pins{
		Kubernetes:  versions.Module{Path: "k8s.io/kubernetes", Version: "v1.99.0", Sum: sum},
		ReleaseTime: at.Format(time.RFC3339),
		Staging:     []versions.Module{{Path: "k8s.io/api", Version: "v0.99.0", Sum: api}},
	}
	dir := t.TempDir()
	var mu sync.Mutex
	var lines []string
	log := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { _, errs[i] = Materialize(context.Background(), p, dir, log) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	built := 0
	for _, l := range lines {
		if strings.Contains(l, "committing pristine tree") {
			built++
		}
	}
	if built != 1 {
		t.Errorf("the tree was built %d times, want once:\n%s", built, strings.Join(lines, "\n"))
	}
	if _, err := os.Stat(filepath.Join(dir, "v1.99.0", "pristine", "staging", "src", "k8s.io", "api", "b.go")); err != nil {
		t.Errorf("staging module not in the tree: %v", err)
	}
}
