package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/publish/sbom"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
	"github.com/spf13/pflag"
)

func init() {
	register(leaf("sbom", "print the SPDX 2.3 document of a built hyperkube, as hk release ships beside it (licences left NOASSERTION)", defineSBOM))
}

func defineSBOM(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release the binary was built from (its pins name the staging modules)")
	binary := fs.String("binary", "", "the hyperkube (default out/<version>/hyperkube)")
	arch := fs.String("arch", "amd64", "the binary's architecture")
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) != 0 {
			return usageError{errors.New("takes no arguments")}
		}
		bin := *binary
		if bin == "" {
			bin = filepath.Join(build.OutputDir(e.outDir(), *version, ""), build.Hyperkube)
		}
		pins, err := versions.Load(e.root, *version)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return fmt.Errorf("--binary: %w", err)
		}
		main, deps, goVersion, err := sbom.ReadBinary(bin, pins)
		if err != nil {
			return err
		}
		// The build's provenance beside the binary names its version stamp and the patches applied.
		var prov build.Provenance
		if raw, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "provenance.json")); err != nil {
			return fmt.Errorf("%s: no provenance.json beside it (build it with hk build): %w", bin, err)
		} else if err := json.Unmarshal(raw, &prov); err != nil {
			return fmt.Errorf("provenance.json: %w", err)
		}
		var patches []sbom.Patch
		for _, p := range prov.Patches {
			patches = append(patches, sbom.Patch{Name: filepath.Base(p.Path), SHA256: p.SHA256})
		}
		doc, err := sbom.ForBinary(sbom.Binary{Name: filepath.Base(bin), Arch: *arch, SHA256: fmt.Sprintf("%x", sha256.Sum256(data)),
			GitVersion: prov.GitVersion, GoVersion: goVersion, Main: main, Modules: deps, Patches: patches, Created: pins.ReleaseTime})
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(doc)
		return err
	}
}
