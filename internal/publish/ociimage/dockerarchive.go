package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// WriteDockerArchive writes one architecture's images as a `docker load` archive (the
// `docker save` layout). go-containerregistry's tarball writer orders entries by map
// iteration, so the same images gave different archive bytes; this writes configs, layers
// and manifest.json in a fixed order, each shared layer once. Written to a temporary name
// and renamed, so a failure leaves no partial archive.
func WriteDockerArchive(file, arch string, built []Built) error {
	tmp := file + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := writeDockerArchive(f, arch, built); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(file), err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func writeDockerArchive(w io.Writer, arch string, built []Built) error {
	sorted := append([]Built{}, built...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Ref < sorted[j].Ref })
	tw := tar.NewWriter(w)
	seen := map[string]bool{}
	var manifest []dockerManifestEntry
	for _, b := range sorted {
		img, ok := b.Images[arch]
		if !ok {
			return fmt.Errorf("%s has no linux/%s image", b.Ref, arch)
		}
		cfgName, err := img.ConfigName()
		if err != nil {
			return err
		}
		cfg, err := img.RawConfigFile()
		if err != nil {
			return err
		}
		entry := dockerManifestEntry{Config: cfgName.Hex + ".json", RepoTags: []string{b.Ref}}
		if !seen[entry.Config] {
			seen[entry.Config] = true
			if err := tarEntry(tw, entry.Config, bytes.NewReader(cfg), int64(len(cfg))); err != nil {
				return err
			}
		}
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			name, err := writeLayerOnce(tw, l, seen)
			if err != nil {
				return err
			}
			entry.Layers = append(entry.Layers, name)
		}
		manifest = append(manifest, entry)
	}
	m, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := tarEntry(tw, "manifest.json", bytes.NewReader(m), int64(len(m))); err != nil {
		return err
	}
	return tw.Close()
}

func writeLayerOnce(tw *tar.Writer, l v1.Layer, seen map[string]bool) (string, error) {
	d, err := l.Digest()
	if err != nil {
		return "", err
	}
	name := d.Hex + ".tar.gz"
	if seen[name] {
		return name, nil
	}
	seen[name] = true
	size, err := l.Size()
	if err != nil {
		return "", err
	}
	rc, err := l.Compressed()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	return name, tarEntry(tw, name, rc, size)
}

func tarEntry(tw *tar.Writer, name string, r io.Reader, size int64) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := io.Copy(tw, r)
	return err
}
