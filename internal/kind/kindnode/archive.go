package kindnode

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Layer is an uncompressed layer tar on disk and its sha256 (the image's diff_id).
type Layer struct {
	Path   string
	Digest string // hex sha256 of the file
}

// ImageSpec is one image of an archive: tags, layers bottom-up, and the run configuration.
type ImageSpec struct {
	Tags       []string
	Layers     []Layer
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	StopSignal string
	Labels     map[string]string
}

// NewLayer hashes a layer tar.
func NewLayer(path string) (Layer, error) {
	f, err := os.Open(path)
	if err != nil {
		return Layer{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Layer{}, err
	}
	return Layer{Path: path, Digest: hex.EncodeToString(h.Sum(nil))}, nil
}

// imageConfig is the part of the OCI/Docker image configuration we set.
type imageConfig struct {
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Created      time.Time `json:"created"`
	Config       struct {
		Env        []string          `json:"Env,omitempty"`
		Entrypoint []string          `json:"Entrypoint,omitempty"`
		Cmd        []string          `json:"Cmd,omitempty"`
		User       string            `json:"User,omitempty"`
		StopSignal string            `json:"StopSignal,omitempty"`
		Labels     map[string]string `json:"Labels,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteArchive writes images in the `docker save` format, which both `docker load` and
// `ctr images import` read. Layers shared by several images are stored once. The configuration
// carries a fixed creation time, so equal inputs give equal image IDs.
func WriteArchive(path string, images []ImageSpec, created time.Time) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	written := map[string]bool{}
	var manifest []manifestEntry
	for _, img := range images {
		var cfg imageConfig
		cfg.Architecture, cfg.OS, cfg.Created = "amd64", "linux", created.UTC()
		cfg.Config.Env, cfg.Config.Entrypoint, cfg.Config.StopSignal, cfg.Config.Labels = img.Env, img.Entrypoint, img.StopSignal, img.Labels
		cfg.Config.Cmd, cfg.Config.User = img.Cmd, img.User
		cfg.RootFS.Type = "layers"
		entry := manifestEntry{RepoTags: img.Tags}
		for _, l := range img.Layers {
			cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, "sha256:"+l.Digest)
			name := l.Digest + "/layer.tar"
			entry.Layers = append(entry.Layers, name)
			if written[name] {
				continue
			}
			if err := addFile(tw, name, l.Path); err != nil {
				return err
			}
			written[name] = true
		}
		data, err := json.Marshal(cfg)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		entry.Config = hex.EncodeToString(sum[:]) + ".json"
		if !written[entry.Config] {
			if err := addBytes(tw, entry.Config, data); err != nil {
				return err
			}
			written[entry.Config] = true
		}
		manifest = append(manifest, entry)
	}
	data, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := addBytes(tw, "manifest.json", data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func addBytes(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

func addFile(tw *tar.Writer, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: st.Size(), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// WriteLayer writes a directory tree as a layer tar: entries sorted, owned by root, a fixed
// modification time, so the same files give the same digest.
func WriteLayer(dir, path string) (Layer, error) {
	var paths []string
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	}); err != nil {
		return Layer{}, err
	}
	sort.Strings(paths)
	f, err := os.Create(path)
	if err != nil {
		return Layer{}, err
	}
	defer f.Close()
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(f, h))
	for _, p := range paths {
		st, err := os.Lstat(p)
		if err != nil {
			return Layer{}, err
		}
		link := ""
		if st.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return Layer{}, err
			}
		}
		hdr, err := tar.FileInfoHeader(st, link)
		if err != nil {
			return Layer{}, err
		}
		hdr.Name = strings.TrimPrefix(p, dir+"/")
		if st.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = time.Unix(0, 0), time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return Layer{}, err
		}
		if st.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return Layer{}, err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			if err != nil {
				return Layer{}, fmt.Errorf("%s: %w", p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return Layer{}, err
	}
	return Layer{Path: path, Digest: hex.EncodeToString(h.Sum(nil))}, f.Close()
}
