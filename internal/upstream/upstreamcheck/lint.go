package upstreamcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/filelock"
)

// LintVersion is the golangci-lint upstream's hack/tools/golangci-lint/go.mod names for the
// v1.37 line. The module zip of k8s.io/kubernetes does not ship hack/tools, so it is pinned here.
const LintVersion = "v2.11.2"

// pluginLinters are built by upstream's verify script from hack/tools as Go plugins; that module
// is not in the module zip, so these linters are left out of the configuration we run.
var pluginLinters = []string{"kubeapilinter", "logcheck", "sorted"}

// pluginLintersNotRun are the plugin linters no check of ours runs (logcheck runs on its own).
var pluginLintersNotRun = []string{"kubeapilinter", "sorted"}

// lint runs golangci-lint with the tree's hack/golangci.yaml (less the plugin linters) on the
// touched packages, reporting only what the series changed (--new-from-rev), as upstream's
// presubmit does for a pull request. It runs once per module the packages belong to (the root,
// or staging/src/k8s.io/<module> from its own directory), in module mode with hk build's
// settings (GOWORK=off, -trimpath, CGO_ENABLED=0): the export data golangci-lint asks `go list
// -export` for is then what the release's build already compiled. In workspace mode every
// staging package gets another cache key (the trimmed path loses its @v0.0.0) and golangci-lint
// compiled ~1,500 packages again.
func lint(ctx context.Context, o Options, t Tree, w io.Writer) (Result, error) {
	r := Result{Check: "golangci-lint", Note: "without the plugin linters " + strings.Join(pluginLintersNotRun, ", ") + " (hack/tools is not in the module zip; logcheck runs on its own)"}
	cfg, err := os.ReadFile(filepath.Join(t.Dir, "hack", "golangci.yaml"))
	if err != nil {
		return r, fmt.Errorf("the tree ships no golangci-lint configuration: %w", err)
	}
	if !regexp.MustCompile(`(?m)^version: "2"`).Match(cfg) {
		return r, errors.New("hack/golangci.yaml is not a golangci-lint v2 configuration; this check supports v1.33 and later trees")
	}
	bin, err := installLint(ctx, o)
	if err != nil {
		return r, err
	}
	// The file lives in the scratch worktree, which the next `hk` apply cleans.
	config := filepath.Join(t.Dir, ".hk-golangci.yaml")
	if err := os.WriteFile(config, withoutPluginLinters(cfg), 0o644); err != nil {
		return r, err
	}
	dir, release, err := stablePath(o.LinkDir, t.Dir)
	if err != nil {
		return r, err
	}
	defer release()
	for _, m := range byModule(t.Dirs) {
		o.Log("upstream-check: golangci-lint %s on %d packages of %s", LintVersion, len(m.dirs), nonEmpty(m.dir, "the root module"))
		args := append([]string{"run", "--config=" + config, "--new-from-rev=" + t.Base}, m.dirs...)
		// The go command and golangci-lint take the working directory from $PWD (set to the
		// command's directory), so they see the symlink's path, not the checkout's.
		cmd := command.New(bin, args...).InDir(filepath.Join(dir, m.dir)).
			WithEnv("GOWORK=off", "GOFLAGS=-mod=mod -trimpath", "CGO_ENABLED=0", "GOTOOLCHAIN=local")
		cmd.Stdout, cmd.Stderr = w, w
		out, err := cmd.Run(ctx)
		var failed *command.Error
		switch {
		case err == nil:
		case errors.As(err, &failed) && failed.ExitCode == 1: // issues found
			found := 0
			for _, l := range strings.Split(out, "\n") {
				if issueRE.MatchString(l) {
					r.Findings = append(r.Findings, filepath.Join(m.dir, l))
					found++
				}
			}
			if found == 0 {
				r.Findings = append(r.Findings, "golangci-lint reported issues in "+nonEmpty(m.dir, "the root module")+" (output above)")
			}
		default:
			return r, err
		}
	}
	return r, nil
}

// stablePath returns a path to tree that is the same from every checkout on this machine:
// linkDir/<tree's version and selection> as a symlink to it, held under a lock until release.
// golangci-lint's cache keys name the packages' directories: from a fresh clone's tree every
// package missed it (measured: 150 s instead of 3 s with the lint cache warm). With no linkDir,
// the tree's own path.
func stablePath(linkDir, tree string) (string, func(), error) {
	if linkDir == "" {
		return tree, func() {}, nil
	}
	if err := os.MkdirAll(linkDir, 0o755); err != nil {
		return "", nil, err
	}
	// out/trees/v1.37.2/work-patched → v1.37.2-work-patched
	name := filepath.Base(filepath.Dir(tree)) + "-" + filepath.Base(tree)
	link := filepath.Join(linkDir, name)
	unlock, err := filelock.Lock(link+".lock", nil) // another checkout's lint
	if err != nil {
		return "", nil, err
	}
	release := func() { os.Remove(link); unlock() }
	tmp := link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(tree, tmp); err == nil {
		err = os.Rename(tmp, link)
	}
	if err != nil {
		release()
		return "", nil, err
	}
	return link, release, nil
}

// module is one module's touched packages: dir is "" for the root, or staging/src/k8s.io/<name>;
// dirs are relative to it ("./pkg/server").
type module struct {
	dir  string
	dirs []string
}

// byModule groups tree-relative package directories ("./staging/src/k8s.io/apiserver/pkg/server")
// by the module that holds them, the root module first.
func byModule(dirs []string) []module {
	var out []module
	index := map[string]int{}
	for _, d := range dirs {
		mod, rel := "", d
		if rest, ok := strings.CutPrefix(d, "./staging/src/k8s.io/"); ok {
			name, sub, _ := strings.Cut(rest, "/")
			mod, rel = "staging/src/k8s.io/"+name, "./"+sub
			if sub == "" {
				rel = "."
			}
		}
		i, ok := index[mod]
		if !ok {
			i = len(out)
			index[mod] = i
			out = append(out, module{dir: mod})
		}
		out[i].dirs = append(out[i].dirs, rel)
	}
	slices.SortStableFunc(out, func(a, b module) int { return strings.Compare(a.dir, b.dir) })
	return out
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var issueRE = regexp.MustCompile(`^\S+\.go:\d+:\d+: `)

// withoutPluginLinters drops the plugin linters from linters.enable and the settings.custom
// block that points at their .so files.
func withoutPluginLinters(cfg []byte) []byte {
	var out []string
	inCustom := false
	for _, l := range strings.Split(string(cfg), "\n") {
		if inCustom {
			if strings.HasPrefix(l, "      ") || strings.TrimSpace(l) == "" {
				continue
			}
			inCustom = false
		}
		if l == "    custom:" {
			inCustom = true
			continue
		}
		if name, ok := strings.CutPrefix(l, "    - "); ok && slices.Contains(pluginLinters, strings.TrimSpace(name)) {
			continue
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}

// installLint builds golangci-lint at LintVersion (named by the toolchain too: a golangci-lint
// built by an older Go cannot load newer code).
func installLint(ctx context.Context, o Options) (string, error) {
	return installTool(ctx, o, "golangci-lint", "github.com/golangci/golangci-lint/v2/cmd/golangci-lint", LintVersion)
}
