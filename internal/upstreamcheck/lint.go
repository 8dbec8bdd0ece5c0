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

	"github.com/hardened-hyperkube/hk/internal/command"
)

// LintVersion is the golangci-lint upstream's hack/tools/golangci-lint/go.mod names for the
// v1.37 line. The module zip of k8s.io/kubernetes does not ship hack/tools, so it is pinned here.
const LintVersion = "v2.11.2"

// pluginLinters are built by upstream's verify script from hack/tools as Go plugins; that module
// is not in the module zip, so these linters are left out of the configuration we run.
var pluginLinters = []string{"kubeapilinter", "logcheck", "sorted"}

// lint runs golangci-lint with the tree's hack/golangci.yaml (less the plugin linters) on the
// touched packages, reporting only what the series changed (--new-from-rev), as upstream's
// presubmit does for a pull request.
func lint(ctx context.Context, o Options, t Tree, w io.Writer) (Result, error) {
	r := Result{Check: "golangci-lint", Note: "without the plugin linters " + strings.Join(pluginLinters, ", ") + " (hack/tools is not in the module zip)"}
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
	// Both files live in the scratch worktree, which the next `hk` apply cleans.
	config := filepath.Join(t.Dir, ".hk-golangci.yaml")
	if err := os.WriteFile(config, withoutPluginLinters(cfg), 0o644); err != nil {
		return r, err
	}
	work, err := workspace(t.Dir)
	if err != nil {
		return r, err
	}
	o.Log("upstream-check: golangci-lint %s on %d packages", LintVersion, len(t.Dirs))
	args := append([]string{"run", "--config=" + config, "--new-from-rev=" + t.Base}, t.Dirs...)
	cmd := command.New(bin, args...).InDir(t.Dir).WithEnv("GOWORK="+work, "GOFLAGS=", "GOTOOLCHAIN=local")
	cmd.Stdout, cmd.Stderr = w, w
	out, err := cmd.Run(ctx)
	var failed *command.Error
	switch {
	case err == nil:
		return r, nil
	case errors.As(err, &failed) && failed.ExitCode == 1: // issues found
		for _, l := range strings.Split(out, "\n") {
			if issueRE.MatchString(l) {
				r.Findings = append(r.Findings, l)
			}
		}
		if len(r.Findings) == 0 {
			r.Findings = []string{"golangci-lint reported issues (output above)"}
		}
		return r, nil
	default:
		return r, err
	}
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

// workspace writes a copy of the tree's go.work without the modules the module proxy does not
// serve (sample-controller, sample-cli-plugin), which are missing from the tree.
func workspace(dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "go.work"))
	if err != nil {
		return "", fmt.Errorf("the tree has no go.work: %w", err)
	}
	var keep []string
	for _, l := range strings.Split(string(data), "\n") {
		if mod := strings.TrimSpace(l); strings.HasPrefix(mod, "./staging/") {
			if _, err := os.Stat(filepath.Join(dir, mod, "go.mod")); err != nil {
				continue
			}
		}
		keep = append(keep, l)
	}
	work := filepath.Join(dir, ".hk-lint.work")
	if err := os.WriteFile(work, []byte(strings.Join(keep, "\n")), 0o644); err != nil {
		return "", err
	}
	sum, err := os.ReadFile(filepath.Join(dir, "go.work.sum"))
	if err == nil {
		err = os.WriteFile(work+".sum", sum, 0o644)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	return work, nil
}

// installLint builds golangci-lint at LintVersion from the Go module proxy into
// ToolsDir/golangci-lint-<version>/, once.
func installLint(ctx context.Context, o Options) (string, error) {
	dir := filepath.Join(o.ToolsDir, "golangci-lint-"+LintVersion)
	bin := filepath.Join(dir, "golangci-lint")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(o.ToolsDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(o.ToolsDir, ".golangci-lint-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	o.Log("upstream-check: installing golangci-lint %s from the Go module proxy", LintVersion)
	if _, err := command.New("go", "install", "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@"+LintVersion).
		InDir(tmp).WithEnv("GOBIN="+tmp, "GOFLAGS=", "GOTOOLCHAIN=local", "CGO_ENABLED=0").Run(ctx); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return bin, nil
}
