// Package modcache fetches modules through the go command (so GOPROXY, GOSUMDB and GOFLAGS apply)
// and verifies the extracted files against pinned h1: hashes.
package modcache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
)

// Module is one downloaded module as `go mod download -json` reports it.
type Module struct {
	Path    string
	Version string
	Dir     string // extracted, read-only files
	Info    string // path of the .info file (holds the publication time)
	GoMod   string
	Sum     string
	Error   string
}

// Download fetches path@version for each entry of mods ("path@version") and returns them in order.
// A module the proxy refuses is reported by its path and the go command's message.
func Download(ctx context.Context, mods ...string) ([]Module, error) {
	if len(mods) == 0 {
		return nil, nil
	}
	out, runErr := goOutside(ctx, append([]string{"mod", "download", "-json"}, mods...)...)
	dec := json.NewDecoder(strings.NewReader(out))
	var got []Module
	for {
		var m Module
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			if runErr != nil {
				return nil, runErr
			}
			return nil, fmt.Errorf("go mod download: %w", err)
		}
		if m.Error != "" {
			return nil, fmt.Errorf("download %s@%s: %s", m.Path, m.Version, firstLine(m.Error))
		}
		got = append(got, m)
	}
	if runErr != nil {
		return nil, runErr
	}
	if len(got) != len(mods) {
		return nil, fmt.Errorf("go mod download returned %d modules for %d requested", len(got), len(mods))
	}
	return got, nil
}

// Verify checks that the files in dir hash to want (an h1: sum) for module path@version. It
// hashes the extracted files themselves, which is what gets copied, so an edit in the module
// cache is caught even though the go command only checks the zip.
func Verify(path, version, dir, want string) error {
	got, err := dirhash.HashDir(dir, path+"@"+version, dirhash.Hash1)
	if err != nil {
		return fmt.Errorf("hash %s@%s: %w", path, version, err)
	}
	if got != want {
		return fmt.Errorf("module %s@%s does not match its pin: files in %s hash to %s, pinned %s (tampered or corrupt module cache; `go clean -modcache` and retry)",
			path, version, dir, got, want)
	}
	return nil
}

// ReadTime returns the Time field of a module's .info file.
func ReadTime(infoPath string) (string, error) {
	data, err := os.ReadFile(infoPath)
	if err != nil {
		return "", err
	}
	var info struct{ Time string }
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&info); err != nil {
		return "", fmt.Errorf("parse %s: %w", infoPath, err)
	}
	return info.Time, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// CopyWritable copies the regular files of src (a read-only module directory) into dst,
// writable, so the copy can be patched.
func CopyWritable(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil // module zips hold only regular files
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return CopyFile(path, target, info.Mode().Perm()|0o200)
	})
}

// CopyFile copies src to a new file dst (it must not exist) with mode.
func CopyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Versions lists the release versions the proxy serves for path, as `go list -m -versions` does
// (pseudo-versions and retracted versions left out). A module the proxy has never heard of has none.
func Versions(ctx context.Context, path string) ([]string, error) {
	out, err := goOutside(ctx, "list", "-m", "-versions", "-json", path)
	if err != nil {
		return nil, err
	}
	var m struct{ Versions []string }
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return nil, fmt.Errorf("go list -m -versions %s: %w", path, err)
	}
	return m.Versions, nil
}

// Missing returns those of mods ("path@version") the proxy does not serve: an upstream release is
// published module by module, and until all are there it is not yet a release we can pin.
func Missing(ctx context.Context, mods ...string) ([]string, error) {
	if len(mods) == 0 {
		return nil, nil
	}
	out, err := goOutside(ctx, append([]string{"list", "-m", "-e", "-json"}, mods...)...)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var missing []string
	for {
		var m struct {
			Path, Version string
			Error         *struct{ Err string }
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list -m: %w", err)
		}
		if m.Error != nil {
			missing = append(missing, m.Path+"@"+m.Version)
		}
	}
	return missing, nil
}

// goOutside runs the go command outside any module, so the caller's go.mod and go.work do not matter.
func goOutside(ctx context.Context, args ...string) (string, error) {
	dir, err := os.MkdirTemp("", "hk-modcache-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	return command.New("go", args...).InDir(dir).WithEnv("GOWORK=off", "GOFLAGS=-mod=mod").Output(ctx)
}
