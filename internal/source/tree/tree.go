// Package tree rebuilds the upstream Kubernetes repository layout from pinned modules: k8s.io/kubernetes
// at the root and each staging module under staging/src/<path>, verified against the pins and
// committed to git, so that patches with upstream paths apply with `git am`.
package tree

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/filelock"
	"github.com/hardened-hyperkube/hk/internal/source/modcache"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// PristineBranch names the branch holding the unmodified upstream tree.
const PristineBranch = "pristine"

// pinsMarker, inside .git, records the pins digest the tree was built from.
const pinsMarker = "hk-pins-digest"

// Identity returns the environment that makes git commits reproducible: a fixed author and
// committer and the release's publication time.
func Identity(p *versions.Pins) []string {
	return []string{
		"GIT_AUTHOR_NAME=hk", "GIT_AUTHOR_EMAIL=hk@localhost", "GIT_AUTHOR_DATE=" + p.ReleaseTime,
		"GIT_COMMITTER_NAME=hk", "GIT_COMMITTER_EMAIL=hk@localhost", "GIT_COMMITTER_DATE=" + p.ReleaseTime,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		// No automatic gc: a background gc after `git am` repacks and prunes objects while the
		// next command (a local clone by hk export) copies them.
		"GIT_CONFIG_COUNT=2", "GIT_CONFIG_KEY_0=gc.auto", "GIT_CONFIG_VALUE_0=0",
		"GIT_CONFIG_KEY_1=maintenance.auto", "GIT_CONFIG_VALUE_1=false",
	}
}

// Git returns a git command run in dir with the reproducible identity.
func Git(p *versions.Pins, dir string, args ...string) *command.Cmd {
	return command.New("git", args...).InDir(dir).WithEnv(Identity(p)...)
}

// Log receives progress lines.
type Log func(format string, args ...any)

// Materialize returns the path of a git repository holding the pristine upstream tree for p,
// building it under cacheDir/<version>/pristine if it is missing or was built from other pins.
// Nothing is left at that path unless the whole tree was built and committed.
func Materialize(ctx context.Context, p *versions.Pins, cacheDir string, log Log) (string, error) {
	if err := command.Require("git", "go"); err != nil {
		return "", err
	}
	version := p.Kubernetes.Version
	final := filepath.Join(cacheDir, version, "pristine")
	if upToDate(final, p) {
		return final, nil
	}
	// make test's stages materialize the same release at once; without turns, the last one to
	// finish replaced the tree under the worktrees the first had already added to it.
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", err
	}
	lock := filepath.Join(cacheDir, version, ".materialize.lock")
	unlock, err := filelock.Lock(lock, func() { log("materialize %s: waiting for another process building it (%s)", version, lock) })
	if err != nil {
		return "", err
	}
	defer unlock()
	if upToDate(final, p) {
		return final, nil
	}
	log("materialize %s: downloading %d modules", version, len(p.All()))
	var want []string
	for _, m := range p.All() {
		want = append(want, m.Path+"@"+m.Version)
	}
	mods, err := modcache.Download(ctx, want...)
	if err != nil {
		return "", fmt.Errorf("materialize %s: %w", version, err)
	}
	// Verify everything before writing anything.
	for i, m := range p.All() {
		if err := modcache.Verify(m.Path, m.Version, mods[i].Dir, m.Sum); err != nil {
			return "", fmt.Errorf("materialize %s: %w", version, err)
		}
	}
	log("materialize %s: %d modules verified against pins", version, len(mods))

	tmp, err := os.MkdirTemp(filepath.Dir(final), ".pristine-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	for i, m := range p.All() {
		dst := tmp
		if i > 0 {
			dst = filepath.Join(tmp, "staging", "src", m.Path)
		}
		if err := modcache.CopyWritable(mods[i].Dir, dst); err != nil {
			return "", fmt.Errorf("materialize %s: copy %s: %w", version, m.Path, err)
		}
	}
	log("materialize %s: committing pristine tree", version)
	msg := fmt.Sprintf("Upstream %s\n\nRebuilt from pinned modules (pins digest %s).\n", version, p.Digest())
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch=" + PristineBranch},
		// Upstream trees carry .gitignore files; vendor/ and generated files must still be
		// committed exactly as the modules hold them.
		{"add", "--all", "--force", "."},
		{"commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", msg},
		{"tag", "upstream-" + version},
	} {
		if _, err := Git(p, tmp, args...).Run(ctx); err != nil {
			return "", fmt.Errorf("materialize %s: %w", version, err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".git", pinsMarker), []byte(p.Digest()+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.RemoveAll(final); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	log("materialize %s: ready at %s", version, final)
	return final, nil
}

// upToDate reports whether dir holds a tree committed from exactly the pins p.
func upToDate(dir string, p *versions.Pins) bool {
	digest, err := os.ReadFile(filepath.Join(dir, ".git", pinsMarker))
	return err == nil && strings.TrimSpace(string(digest)) == p.Digest()
}
