// Package modproxy writes a Go module proxy on the file system (GOPROXY=file://DIR): the layout of
// the GOPROXY protocol, so the go command downloads and verifies from it exactly as from a real
// proxy. Tests use it to serve releases upstream has not made.
package modproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// Publish serves path@version from dir, built from files (slash-separated names to contents; a
// go.mod is required), published at t. It returns the module's h1: hash, as go.sum records it.
func Publish(dir, path, version string, files map[string]string, t time.Time) (string, error) {
	goMod, ok := files["go.mod"]
	if !ok {
		return "", fmt.Errorf("publish %s@%s: no go.mod", path, version)
	}
	escaped, err := module.EscapePath(path)
	if err != nil {
		return "", err
	}
	at := filepath.Join(dir, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return "", err
	}
	src, err := os.MkdirTemp("", "hk-modproxy-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	for name, text := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	var zip bytes.Buffer
	if err := modzip.CreateFromDir(&zip, module.Version{Path: path, Version: version}, src); err != nil {
		return "", fmt.Errorf("publish %s@%s: %w", path, version, err)
	}
	zipPath := filepath.Join(at, version+".zip")
	if err := os.WriteFile(zipPath, zip.Bytes(), 0o644); err != nil {
		return "", err
	}
	info, _ := json.Marshal(struct{ Version, Time string }{version, t.UTC().Format(time.RFC3339)})
	if err := os.WriteFile(filepath.Join(at, version+".info"), info, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(at, version+".mod"), []byte(goMod), 0o644); err != nil {
		return "", err
	}
	if err := addToList(filepath.Join(at, "list"), version); err != nil {
		return "", err
	}
	return dirhash.HashZip(zipPath, dirhash.Hash1)
}

// addToList records version in the proxy's list of versions of the module, once.
func addToList(path, version string) error {
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	versions := strings.Fields(string(data))
	if !slices.Contains(versions, version) {
		versions = append(versions, version)
	}
	return os.WriteFile(path, []byte(strings.Join(versions, "\n")+"\n"), 0o644)
}

// Env returns the go command environment that fetches only from the proxy at dir, into the module
// cache at cache, with no checksum database (the proxy's releases are made up).
func Env(dir, cache string) []string {
	return []string{"GOPROXY=file://" + filepath.ToSlash(dir), "GOSUMDB=off", "GONOSUMDB=", "GOPRIVATE=", "GOMODCACHE=" + cache}
}
