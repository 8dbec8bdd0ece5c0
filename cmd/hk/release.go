package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/publish/release"
	"github.com/hardened-hyperkube/hk/internal/publish/signing"
	"github.com/hardened-hyperkube/hk/internal/source/series"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	verify := leaf("verify DIR|IMAGE-LAYOUT | --release DIR IMAGE:TAG", "check a release directory (or an image layout in one, or an image in the local Docker engine against its release): checksums, signatures, provenance, SBOMs", defineVerify)
	verify.Args = cobra.ExactArgs(1)
	keygen := leaf("keygen PATH", "write an ECDSA P-256 signing key pair (PATH and PATH.pub); never overwrites", defineKeygen)
	keygen.Args = cobra.ExactArgs(1)
	register(leaf("release", "build out/release/<version>: binaries per architecture, images, SBOMs, provenance, licences, signatures, manifest", defineRelease), verify, keygen)
}

func defineRelease(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release (pins in build/versions)")
	arches := fs.String("arch", "amd64,arm64", "target architectures, comma-separated")
	keyFile := fs.String("key", "", "PEM signing key (ECDSA P-256); default $"+signing.KeyEnv+"; none: an unsigned release")
	patches := fs.String("patches", series.All, "which patches to apply (a release ships all)")
	asJSON := fs.Bool("json", false, "print the manifest as JSON")
	dir := fs.String("dir", "", "where releases go (default out/release); the release is DIR/<version>")
	fips := fs.Bool("fips", false, "build with Go's certified FIPS 140-3 module: out/release/<version>-fips, images tagged <tag>-fips")
	noVulnScan := fs.Bool("no-vuln-scan", false, "skip the vulnerability report and OpenVEX (govulncheck's source scan of the whole hyperkube takes minutes)")
	return func(ctx context.Context, e *env, args []string) error {
		if *dir == "" {
			*dir = filepath.Join(e.outDir(), "release")
		}
		var key []byte
		switch {
		case *keyFile != "":
			data, err := os.ReadFile(*keyFile)
			if err != nil {
				return fmt.Errorf("signing key: %w", err)
			}
			key = data
		case os.Getenv(signing.KeyEnv) != "":
			key = []byte(os.Getenv(signing.KeyEnv))
		}
		o := release.Options{
			Root: e.root, Version: *version, Selection: *patches, Arches: strings.Split(*arches, ","),
			OutDir: e.outDir(), CacheDir: e.cacheDir(), ReleaseDir: *dir,
			Key: key, Log: e.logf, Progress: e.progress, VulnDir: filepath.Join(e.machineCacheDir(), "vuln"),
		}
		if *noVulnScan {
			o.VulnDir = ""
		}
		o.FIPS = *fips
		res, err := release.Build(ctx, o)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(res.Manifest)
		}
		m := res.Manifest
		fmt.Printf("%s  %s  %s  %s\n", res.Dir, nonEmptyOr(m.Release, "(no CHANGELOG entry)"), m.GitVersion, strings.Join(m.Architectures, ","))
		var total int64
		for _, f := range release.Artifacts(m) {
			if f.Kind == "licenses" || f.Kind == "sbom" {
				continue
			}
			fmt.Printf("  %-48s %-15s %8.1f MB  sha256:%s\n", f.Path, f.Kind, float64(f.Size)/1e6, f.SHA256[:16])
			total += f.Size
		}
		for _, im := range m.Images {
			fmt.Printf("  %-48s %-15s %s\n", im.Ref, "image (index)", im.Index[:23])
		}
		sboms := 0
		for _, f := range m.Files {
			if f.Kind == "sbom" {
				sboms++
			}
		}
		fmt.Printf("  %d SBOMs (SPDX 2.3), licences of %d modules %v, provenance %s\n", sboms, m.Licenses.Modules, m.Licenses.Classes, m.Provenance.Statement)
		if m.Signed {
			fmt.Printf("  signed: key %s (sigstore bundles beside each file; %s)\n", signing.FingerprintHex(m.KeyFingerprint), m.PublicKey)
		} else {
			fmt.Printf("  UNSIGNED: no --key and no $%s\n", signing.KeyEnv)
		}
		fmt.Printf("  vulnerabilities: %s\n  took %s\n", m.Vulnerabilities, res.Elapsed.Round(1e9))
		return nil
	}
}

func defineVerify(fs *pflag.FlagSet) runFunc {
	keyFile := fs.String("key", "", "PEM public key you trust; default: the key shipped in the release (integrity only)")
	allowUnsigned := fs.Bool("allow-unsigned", false, "check an unsigned release's checksums, SBOMs and provenance")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	releaseDir := fs.String("release", "", "with an image reference: the release directory it must come from")
	return func(ctx context.Context, e *env, args []string) error {
		rest := args // flags may follow the path, as with most verifiers
		var key []byte
		if *keyFile != "" {
			data, err := os.ReadFile(*keyFile)
			if err != nil {
				return fmt.Errorf("public key: %w", err)
			}
			key = data
		}
		target := rest[0]
		if *releaseDir != "" {
			target = *releaseDir
		}
		r, err := release.Verify(target, release.VerifyOptions{PublicKey: key, AllowUnsigned: *allowUnsigned, Log: e.logf})
		if err != nil {
			return err
		}
		if *releaseDir != "" {
			arch, err := release.VerifyDockerImage(ctx, r.Dir, rest[0])
			if err != nil {
				return err
			}
			fmt.Printf("OK %s (linux/%s) is the release's image; ", rest[0], arch)
		}
		if *asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		}
		fmt.Printf("OK %s (%s): %d checksums, %d signatures, %d SBOMs, %d provenance subjects, %d images validated\n",
			r.Dir, r.Version, r.Files, r.Signatures, r.SBOMs, r.Subjects, r.Images)
		if r.Fingerprint != "" {
			fmt.Printf("   signed by key %s: %s\n", signing.FingerprintHex(r.Fingerprint), r.KeySource)
		} else {
			fmt.Printf("   %s\n", r.KeySource)
		}
		return nil
	}
}

func defineKeygen(fs *pflag.FlagSet) runFunc {
	ifMissing := fs.Bool("if-missing", false, "do nothing when PATH exists")
	return func(ctx context.Context, e *env, args []string) error {
		p := args[0]
		if _, err := os.Stat(p); err == nil && *ifMissing {
			return nil
		}
		if err := signing.GenerateKey(p); err != nil {
			return err
		}
		fmt.Printf("%s (private, 0600)\n%s.pub\n", p, p)
		return nil
	}
}
