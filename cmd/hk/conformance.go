package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/proof/lab"
	"github.com/hardened-hyperkube/hk/internal/source/series"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
	"github.com/hardened-hyperkube/hk/internal/upstream/conformance"
	"github.com/spf13/pflag"
)

func init() {
	register(group("conformance", "upstream's conformance suite and its test images, built offline from the pinned tree (make conformance runs them)",
		leaf("build", "build e2e.test, ginkgo and the test images of a release", defineConformanceBuild),
		leaf("registry", "serve the test images from a registry until Ctrl-C (for tests that pull with policy Always)", defineConformanceRegistry)))
}

// conformanceBuild is what hk conformance build made.
type conformanceBuild struct {
	Tree   string              `json:"tree"`
	E2E    string              `json:"e2e"`
	Ginkgo string              `json:"ginkgo"`
	Tests  int                 `json:"tests"`
	Images *conformance.Images `json:"images"`
}

func defineConformanceBuild(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release (pins in build/versions)")
	asJSON := fs.Bool("json", false, "print what was built as JSON")
	return func(ctx context.Context, e *env, args []string) error {
		// Built from the tree the hyperkube is built from (the series touches no file of test/e2e, so
		// the tests are upstream's; the client libraries linked in are the ones we ship), stamped as
		// the hyperkube; one binary for every cluster it tests, patched or not. It shares nearly every
		// compiled package with the hyperkube.
		t, err := build.Prepare(ctx, build.Options{Root: e.root, Version: *version, Selection: series.All,
			OutDir: e.outDir(), CacheDir: e.cacheDir(), Log: e.logf})
		if err != nil {
			return err
		}
		dir := filepath.Join(e.outDir(), "conformance", *version)
		minor, err := versions.Minor(*version)
		if err != nil {
			return err
		}
		ldflags := build.VersionLDFlags(minor, build.GitVersion(*version, t.Series), t.Commit, t.Pins.ReleaseTime)
		suite, err := conformance.BuildSuite(ctx, t.Dir, t.Commit, ldflags, filepath.Join(dir, "suite"), e.logf)
		if err != nil {
			return err
		}
		images, err := conformance.BuildImages(ctx, conformance.ImageOptions{Tree: t.Dir, Commit: t.Commit, Version: *version,
			CacheDir: e.machineCacheDir(), OutDir: filepath.Join(dir, "images"), Log: e.logf})
		if err != nil {
			return err
		}
		r := conformanceBuild{Tree: t.Dir, E2E: suite.E2E, Ginkgo: suite.Ginkgo, Tests: len(suite.Tests), Images: images}
		if *asJSON {
			return lab.WriteJSON(os.Stdout, r)
		}
		fmt.Printf("e2e.test  %s\nginkgo    %s\ntests     %d [Conformance] in %s\nimages    %s\n", r.E2E, r.Ginkgo, r.Tests, conformance.ListFile, images.Archive)
		for _, b := range images.Built {
			fmt.Printf("  %s\t%s\n", b.Tag, b.Source)
		}
		return nil
	}
}

// runConformanceRegistry serves the images hk conformance build made; make conformance runs it in
// the private Docker daemon's network namespace, where the nodes reach it.
func defineConformanceRegistry(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release whose test images to serve")
	listen := fs.String("listen", fmt.Sprintf(":%d", conformance.RegistryPort), "address to listen on")
	return func(ctx context.Context, e *env, args []string) error {
		file := filepath.Join(e.outDir(), "conformance", *version, "images", "images.json")
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("no test images for %s (run hk conformance build --version %s): %w", *version, *version, err)
		}
		var images conformance.Images
		if err := json.Unmarshal(data, &images); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		var tags []string
		for _, b := range images.Built {
			tags = append(tags, b.Tag)
		}
		return conformance.ServeRegistry(ctx, images.Archive, tags, *listen, func(addr string, n int) {
			fmt.Printf("serving %d images on %s\n", n, addr)
		})
	}
}
