// Package image builds the product image from images/Dockerfile.alpine with the local Docker
// engine, and the offline Alpine-like bases (busybox and musl from Debian packages, imported with
// `docker import`) that stand in for Alpine where no registry can be reached.
package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
)

// Bases are the offline base variants, by the nsswitch.conf they carry (nil: none, like
// Alpine <= 3.15).
var Bases = map[string]*string{
	"no-nsswitch": nil,
	"dns-first":   text("hosts: dns files\n"),
	"files-first": text("passwd: files\ngroup: files\nhosts: files dns\n"),
}

func text(s string) *string { return &s }

// BaseTag is the local tag of an offline base.
func BaseTag(variant string) string { return "hk-alpine-like:" + variant }

// BaseNames lists the variants, sorted.
func BaseNames() []string {
	var n []string
	for k := range Bases {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// BuildBase imports an Alpine-like base image (busybox applets over musl) carrying the
// variant's nsswitch.conf, and returns its tag.
func BuildBase(ctx context.Context, variant string, log func(string, ...any)) (string, error) {
	nsswitch, ok := Bases[variant]
	if !ok {
		return "", fmt.Errorf("unknown base variant %q (have %s)", variant, strings.Join(BaseNames(), ", "))
	}
	if err := command.Require("docker", "apt-get", "dpkg-deb"); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "hk-base-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil { // apt's _apt user writes the download here
		return "", err
	}
	log("image base %s: apt-get download busybox-static musl", variant)
	if _, err := command.New("apt-get", "download", "-q", "busybox-static", "musl").InDir(tmp).Run(ctx); err != nil {
		return "", fmt.Errorf("download the base's packages (run apt-get update first?): %w", err)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	rootfs := filepath.Join(tmp, "rootfs")
	for _, deb := range debs {
		if _, err := command.New("dpkg-deb", "-x", deb, rootfs).Run(ctx); err != nil {
			return "", err
		}
	}
	if err := populate(ctx, rootfs, nsswitch); err != nil {
		return "", err
	}
	tag := BaseTag(variant)
	layer := filepath.Join(tmp, "rootfs.tar")
	digest, err := writeTarFile(layer, rootfs)
	if err != nil {
		return "", err
	}
	// Re-importing the same rootfs would make a new image (import stamps the time) and defeat
	// the layer cache of every build on it, so reuse the image that carries this digest.
	existing, err := command.New("docker", "image", "inspect", "-f", `{{index .Config.Labels "`+digestLabel+`"}}`, tag).Output(ctx)
	if err == nil && existing == digest {
		log("image base %s: %s is up to date", variant, tag)
		return tag, nil
	}
	f, err := os.Open(layer)
	if err != nil {
		return "", err
	}
	defer f.Close()
	imp := command.New("docker", "import", "--change", `CMD ["/bin/sh"]`, "--change", "LABEL "+digestLabel+"="+digest, "-", tag)
	imp.Stdin = f
	if _, err := imp.Run(ctx); err != nil {
		return "", fmt.Errorf("import base %s: %w", variant, err)
	}
	return tag, nil
}

// digestLabel records the sha256 of the rootfs tar an offline base was imported from.
const digestLabel = "dev.hardened-hyperkube.rootfs-sha256"

func writeTarFile(path, rootfs string) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if err := writeTar(io.MultiWriter(f, h), rootfs); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// populate turns the extracted packages into a bootable rootfs: busybox applet links, the
// minimal /etc, and the variant's nsswitch.conf.
func populate(ctx context.Context, rootfs string, nsswitch *string) error {
	busybox := filepath.Join(rootfs, "bin", "busybox")
	list, err := command.New(busybox, "--list-full").Output(ctx)
	if err != nil {
		return err
	}
	for _, applet := range strings.Fields(list) {
		link := filepath.Join(rootfs, applet)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/bin/busybox", link); err != nil {
			return err
		}
	}
	for _, d := range []string{"etc", "tmp", "root", "proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		return err
	}
	files := map[string]string{
		"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":      "root:x:0:\nnogroup:x:65534:\n",
		"etc/os-release": "NAME=\"hk Alpine-like base\"\nID=hk-alpine-like\nPRETTY_NAME=\"busybox + musl from Debian packages\"\n",
	}
	if nsswitch != nil {
		files["etc/nsswitch.conf"] = *nsswitch
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// epoch is every file's time in an offline base, so the same packages give the same layer.
var epoch = time.Unix(0, 0).UTC()

// writeTar streams rootfs as a tar with fixed owners and times, so the same packages give the
// same layer.
func writeTar(w io.Writer, rootfs string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(rootfs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(rootfs, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = rel, 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = epoch, time.Time{}, time.Time{}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// BuildOptions selects the product image to build.
type BuildOptions struct {
	Root      string // repository root (images/)
	BinaryDir string // out/<version>: hyperkube and provenance.json
	Version   string
	Base      string // image reference or local tag
	Tag       string
	Revision  string
	Source    string
	Log       func(string, ...any)
}

// Build runs `docker build` on images/Dockerfile.alpine with a context holding only what the
// Dockerfile copies.
func Build(ctx context.Context, o BuildOptions) error {
	if err := command.Require("docker"); err != nil {
		return err
	}
	var prov struct{ GitVersion string }
	data, err := os.ReadFile(filepath.Join(o.BinaryDir, "provenance.json"))
	if err != nil {
		return fmt.Errorf("no build at %s (run hk build --version %s): %w", o.BinaryDir, o.Version, err)
	}
	if err := json.Unmarshal(data, &prov); err != nil {
		return err
	}
	bctx, err := os.MkdirTemp("", "hk-image-context-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bctx)
	for src, dst := range map[string]string{
		filepath.Join(o.Root, "images", "Dockerfile.alpine"): "images/Dockerfile.alpine",
		filepath.Join(o.Root, "images", "nsswitch.conf"):     "images/nsswitch.conf",
		filepath.Join(o.BinaryDir, "hyperkube"):              "out/" + o.Version + "/hyperkube",
	} {
		target := filepath.Join(bctx, dst)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.Link(src, target); err != nil { // same filesystem: no copy of 150 MB
			if _, err := command.New("cp", src, target).Run(ctx); err != nil {
				return err
			}
		}
	}
	o.Log("image: docker build %s from %s", o.Tag, o.Base)
	_, err = command.New("docker", "build", "-q", "-f", filepath.Join(bctx, "images", "Dockerfile.alpine"),
		"--build-arg", "BASE="+o.Base, "--build-arg", "VERSION="+o.Version,
		"--build-arg", "GIT_VERSION="+prov.GitVersion, "--build-arg", "REVISION="+o.Revision,
		"--build-arg", "SOURCE="+o.Source, "-t", o.Tag, bctx).WithEnv("DOCKER_BUILDKIT=0").Run(ctx)
	if err != nil {
		return fmt.Errorf("docker build %s: %w", o.Tag, err)
	}
	return nil
}
