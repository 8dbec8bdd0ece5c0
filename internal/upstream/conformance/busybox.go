package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/kind/kindnode"
	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/filelock"
)

// The suite's busybox image is busybox.net's busybox at this version. Debian's busybox is not
// the same program: its ash drops environment variables whose names are not shell names
// (debian/patches/revert-9c143ce52da11ec3d21a3491c3749841d3dc10f0.patch, for the installer),
// and four conformance tests check that `sh -c env` passes them on. So busybox is built from its
// release tarball, which Debian's mirror keeps unchanged as the source package's .orig.tar.bz2.
const (
	busyboxVersion = "1.37.0"
	busyboxURL     = "http://deb.debian.org/debian/pool/main/b/busybox/busybox_" + busyboxVersion + ".orig.tar.bz2"
	busyboxSHA256  = "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4"
)

// busyboxConfig edits busybox's default configuration: a static binary, as the busybox image
// carries, and no tc (it needs CBQ from kernel headers that no longer have it; Debian's build
// patches it out likewise, and no test runs tc).
var busyboxConfig = map[string]string{
	"# CONFIG_STATIC is not set": "CONFIG_STATIC=y",
	"CONFIG_TC=y":                "# CONFIG_TC is not set",
}

// buildBusybox compiles busybox once per machine into cacheDir and returns the binary.
func buildBusybox(ctx context.Context, cacheDir string, log func(string, ...any)) (string, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	unlock, err := filelock.Lock(filepath.Join(cacheDir, "busybox.lock"), nil)
	if err != nil {
		return "", err
	}
	defer unlock()
	var edits []string
	for from, to := range busyboxConfig {
		edits = append(edits, from+"→"+to)
	}
	sort.Strings(edits)
	sum := sha256.Sum256([]byte(strings.Join(append([]string{busyboxSHA256, "defconfig"}, edits...), "\n")))
	dir := filepath.Join(cacheDir, "busybox-"+busyboxVersion+"-"+hex.EncodeToString(sum[:6]))
	bin := filepath.Join(dir, "busybox")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := command.Require("make", "gcc", "tar", "bzip2"); err != nil {
		return "", fmt.Errorf("%w (scripts/install-deps.sh kind installs it)", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".busybox-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	log("conformance images: busybox %s from %s", busyboxVersion, busyboxURL)
	tarball := filepath.Join(tmp, "busybox.tar.bz2")
	if err := download(ctx, busyboxURL, tarball, busyboxSHA256); err != nil {
		return "", err
	}
	if _, err := command.New("tar", "-C", tmp, "-xjf", tarball).Run(ctx); err != nil {
		return "", err
	}
	src := filepath.Join(tmp, "busybox-"+busyboxVersion)
	if _, err := command.New("make", "defconfig").InDir(src).Run(ctx); err != nil {
		return "", fmt.Errorf("busybox: make defconfig: %w", err)
	}
	config, err := os.ReadFile(filepath.Join(src, ".config"))
	if err != nil {
		return "", err
	}
	text := string(config)
	for from, to := range busyboxConfig {
		if !strings.Contains(text, from+"\n") {
			return "", fmt.Errorf("busybox %s: defconfig has no line %q to change", busyboxVersion, from)
		}
		text = strings.Replace(text, from+"\n", to+"\n", 1)
	}
	if err := os.WriteFile(filepath.Join(src, ".config"), []byte(text), 0o644); err != nil {
		return "", err
	}
	// SOURCE_DATE_EPOCH fixes the build date busybox prints in its banner.
	if _, err := command.New("make", "-j2", "busybox").InDir(src).WithEnv("SOURCE_DATE_EPOCH=0", "KCONFIG_NOTIMESTAMP=1").Run(ctx); err != nil {
		return "", fmt.Errorf("busybox: make: %w", err)
	}
	if err := kindnode.CopyFile(filepath.Join(src, "busybox"), filepath.Join(tmp, "out", "busybox"), 0o755); err != nil {
		return "", err
	}
	os.RemoveAll(dir)
	if err := os.Rename(filepath.Join(tmp, "out"), dir); err != nil {
		return "", err
	}
	return bin, nil
}

// download fetches url into file and checks its sha256; a mismatch leaves nothing behind.
func download(ctx context.Context, url, file, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != want {
		err = fmt.Errorf("%s: sha256 %x, want %s", url, h.Sum(nil), want)
	}
	if err != nil {
		os.Remove(file)
	}
	return err
}
