package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/filelock"
)

// goEnv is the hyperkube's, so the suite shares its compiled packages.
var goEnv = build.GoEnv

// Suite is upstream's e2e suite built from a tree.
type Suite struct {
	Dir    string // the tree it was built from (the e2e tests read testing manifests from it)
	E2E    string // e2e.test: go test -c ./test/e2e
	Ginkgo string // the ginkgo CLI at the version the tree's go.mod requires
	Tests  []Test // the tree's conformance list
}

// BuildSuite compiles e2e.test and ginkgo from the tree at dir into outDir (one binary for the
// patched cluster and the control), once per tree commit, link flags and Go version. commit names the tree's content; ldflags stamp e2e.test
// with the release's version as upstream's build does (the suite reads it: the Pod Security
// fixtures of the running version, for one).
func BuildSuite(ctx context.Context, dir, commit, ldflags, outDir string, log func(string, ...any)) (*Suite, error) {
	tests, err := List(dir)
	if err != nil {
		return nil, err
	}
	s := &Suite{Dir: dir, E2E: filepath.Join(outDir, "e2e.test"), Ginkgo: filepath.Join(outDir, "ginkgo"), Tests: tests}
	if err := os.MkdirAll(filepath.Dir(outDir), 0o755); err != nil {
		return nil, err
	}
	unlock, err := filelock.Lock(outDir+".lock", nil)
	if err != nil {
		return nil, err
	}
	defer unlock()
	key := suiteKey(commit, ldflags)
	if data, err := os.ReadFile(filepath.Join(outDir, "inputs")); err == nil && string(data) == key {
		return s, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(outDir), ".suite-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	log("conformance suite: go test -c ./test/e2e and go build ginkgo in %s", dir)
	// -trimpath as hk build compiles, so the packages the suite shares with the hyperkube come
	// from the build cache.
	if _, err := command.New("go", "test", "-c", "-trimpath", "-ldflags="+ldflags, "-o", filepath.Join(tmp, "e2e.test"), "./test/e2e").
		InDir(dir).WithEnv(goEnv...).Run(ctx); err != nil {
		return nil, fmt.Errorf("build e2e.test: %w", err)
	}
	if _, err := command.New("go", "build", "-trimpath", "-o", filepath.Join(tmp, "ginkgo"), "github.com/onsi/ginkgo/v2/ginkgo").
		InDir(dir).WithEnv(goEnv...).Run(ctx); err != nil {
		return nil, fmt.Errorf("build ginkgo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "inputs"), []byte(key), 0o644); err != nil {
		return nil, err
	}
	os.RemoveAll(outDir)
	if err := os.Rename(tmp, outDir); err != nil {
		return nil, err
	}
	log("conformance suite: built in %v (%d conformance tests listed)", time.Since(start).Round(time.Second), len(tests))
	return s, nil
}

func suiteKey(commit, ldflags string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{commit, ldflags, runtime.Version(), strings.Join(goEnv, " ")}, "\n")))
	return hex.EncodeToString(sum[:8])
}
