package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/publish/image"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
	"github.com/spf13/pflag"
)

func init() {
	register(group("image", "build the product image (images/Dockerfile.alpine), or an offline Alpine-like base",
		leaf("build", "build the product image from images/Dockerfile.alpine and out/<version>/hyperkube", defineImageBuild),
		leaf("base", "build an offline Alpine-like base image (no registry needed)", defineImageBase)))
}

func defineImageBase(fs *pflag.FlagSet) runFunc {
	variant := fs.String("variant", "no-nsswitch", "which nsswitch.conf the base carries: "+strings.Join(image.BaseNames(), ", "))
	return func(ctx context.Context, e *env, args []string) error {
		tag, err := image.BuildBase(ctx, *variant, e.logf)
		if err != nil {
			return err
		}
		fmt.Println(tag)
		return nil
	}
}

func defineImageBuild(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "release whose out/<version>/hyperkube goes in")
	base := fs.String("base", "alpine:3.15", "base image reference (pin by digest for releases)")
	offline := fs.String("offline-base", "", "build and use a local Alpine-like base instead: "+strings.Join(image.BaseNames(), ", "))
	tag := fs.String("tag", "", "image tag (default hyperkube:<version>)")
	return func(ctx context.Context, e *env, args []string) error {
		if _, err := versions.Load(e.root, *version); err != nil {
			return err
		}
		if *offline != "" {
			t, err := image.BuildBase(ctx, *offline, e.logf)
			if err != nil {
				return err
			}
			*base = t
		}
		if *tag == "" {
			*tag = "hyperkube:" + *version
		}
		revision, err := command.New("git", "rev-parse", "HEAD").InDir(e.root).Output(ctx)
		if err != nil {
			revision = "unknown"
		}
		start := time.Now()
		err = image.Build(ctx, image.BuildOptions{Root: e.root, BinaryDir: build.OutputDir(e.outDir(), *version, ""),
			Version: *version, Base: *base, Tag: *tag, Revision: revision, Source: "hardened-hyperkube", Log: e.logf})
		if err != nil {
			return err
		}
		size, _ := command.New("docker", "image", "inspect", "-f", "{{.Size}}", *tag).Output(ctx)
		fmt.Printf("%s (base %s): %s bytes, built in %s\n", *tag, *base, size, time.Since(start).Round(time.Millisecond))
		return nil
	}
}
