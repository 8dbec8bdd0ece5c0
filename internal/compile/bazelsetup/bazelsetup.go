// Package bazelsetup prepares what the repository's WORKSPACE needs to build and test hk with
// Debian's Bazel 4.2.3 and Go 1.26, offline: a GOROOT copy with compiled packages and tools,
// rules_go and gazelle from the Go module proxy with our patches, a rules_cc shim and a coverage
// stub. Everything lands under out/bazel; each part is built in a temporary directory, renamed
// into place, and skipped next time while its inputs are unchanged.
package bazelsetup

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/source/modcache"
)

const (
	rulesGo = "github.com/bazelbuild/rules_go@v0.33.0"
	gazelle = "github.com/bazelbuild/bazel-gazelle@v0.26.0"
	// debianRules is where Debian's bazel-* packages install rule repositories.
	debianRules = "/usr/share/bazel"
)

// Debian packages the WORKSPACE uses, with a file each one installs.
var debianPackages = []struct{ pkg, file string }{
	{"bazel-bootstrap", "/usr/bin/bazel"},
	{"bazel-skylib", debianRules + "/tools/skylib/WORKSPACE"},
	{"bazel-platforms", debianRules + "/platforms/WORKSPACE"},
	{"bazel-rules-cc", debianRules + "/rules/cc/WORKSPACE"},
	{"bazel-rules-java", debianRules + "/rules/java/WORKSPACE"},
	{"bazel-rules-proto", debianRules + "/rules/proto/WORKSPACE"},
}

// Options locates the repository and the output directory.
type Options struct {
	Root   string // repository root: build/bazel/patches
	OutDir string // out/bazel
	Log    func(format string, args ...any)
}

// part is one directory under OutDir.
type part struct {
	name  string
	stamp string // what decides its content; rebuilt when it changes
	make  func(ctx context.Context, dir string) error
}

// Run prepares every part and reports which were rebuilt.
func Run(ctx context.Context, o Options) error {
	if err := checkDebianPackages(); err != nil {
		return err
	}
	goroot, err := command.New("go", "env", "GOROOT").Output(ctx)
	if err != nil {
		return err
	}
	goVersion, err := command.New("go", "env", "GOVERSION").Output(ctx)
	if err != nil {
		return err
	}
	patches := func(prefix string) []string {
		ps, _ := filepath.Glob(filepath.Join(o.Root, "build", "bazel", "patches", prefix+"-*.patch"))
		sort.Strings(ps)
		return ps
	}
	rulesGoPatches, gazellePatches, rulesCCPatches := patches("rules_go"), patches("gazelle"), patches("rules_cc")
	stamp := func(fields ...string) string { return strings.Join(fields, " ") }
	parts := []part{
		{"goroot", stamp(goVersion, goroot, "std+pack"), func(ctx context.Context, dir string) error {
			return prepareGoroot(ctx, goroot, dir, o.Log)
		}},
		{"rules_go", stamp(rulesGo, digest(rulesGoPatches)), func(ctx context.Context, dir string) error {
			return fromModule(ctx, rulesGo, dir, rulesGoPatches)
		}},
		{"gazelle", stamp(gazelle, goVersion, digest(gazellePatches)), func(ctx context.Context, dir string) error {
			return prepareGazelle(ctx, dir, gazellePatches)
		}},
		{"rules_cc", stamp("debian", digest(rulesCCPatches)), func(ctx context.Context, dir string) error {
			if _, err := command.New("cp", "-a", filepath.Join(debianRules, "rules", "cc"), dir).Run(ctx); err != nil {
				return err
			}
			return applyPatches(ctx, dir, rulesCCPatches)
		}},
		{"remote_coverage_tools", coverageStub, writeCoverageStub},
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return err
	}
	// A go.mod of its own keeps `go vet ./...` and friends in the hk module out of the copies of
	// GOROOT and rules_go (out/ is inside the module).
	if err := os.WriteFile(filepath.Join(o.OutDir, "go.mod"), []byte("module hk-bazel-outputs\n"), 0o644); err != nil {
		return err
	}
	for _, p := range parts {
		if err := ensure(ctx, o, p); err != nil {
			return fmt.Errorf("bazel setup: %s: %w", p.name, err)
		}
	}
	return nil
}

func checkDebianPackages() error {
	var missing []string
	for _, d := range debianPackages {
		if _, err := os.Stat(d.file); err != nil {
			missing = append(missing, d.pkg)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("bazel setup: Debian packages not installed: %s (run scripts/install-deps.sh bazel)", strings.Join(missing, " "))
	}
	return nil
}

const stampFile = ".hk-stamp"

// ensure rebuilds a part when its stamp differs, in a temporary directory renamed into place.
func ensure(ctx context.Context, o Options, p part) error {
	final := filepath.Join(o.OutDir, p.name)
	if got, err := os.ReadFile(filepath.Join(final, stampFile)); err == nil && string(got) == p.stamp {
		o.Log("%s: up to date", p.name)
		return nil
	}
	o.Log("%s: preparing", p.name)
	tmp, err := os.MkdirTemp(o.OutDir, "."+p.name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after the rename, a no-op
	dir := filepath.Join(tmp, p.name)
	if err := p.make(ctx, dir); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, stampFile), []byte(p.stamp), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(final); err != nil {
		return err
	}
	return os.Rename(dir, final)
}

// prepareGoroot copies GOROOT and installs std and pack into the copy: Go >= 1.20 ships neither
// pkg/*.a nor pack, which rules_go v0.33 expects; the other tools its builder runs (compile, link,
// asm, cgo, cover) ship in pkg/tool. Not `go install cmd`: that links every command of the
// toolchain again (66–200 s measured) for one missing tool. The system GOROOT is never modified.
func prepareGoroot(ctx context.Context, goroot, dir string, log func(string, ...any)) error {
	if _, err := command.New("cp", "-a", goroot, dir).Run(ctx); err != nil {
		return err
	}
	env := []string{"GOROOT=" + dir, "GODEBUG=installgoroot=all", "GOTOOLCHAIN=local", "GOFLAGS=", "CGO_ENABLED=0"}
	for _, what := range []string{"std", "cmd/pack"} {
		log("goroot: go install %s into the copy", what)
		if _, err := command.New(filepath.Join(dir, "bin", "go"), "install", what).WithEnv(env...).Run(ctx); err != nil {
			return err
		}
	}
	return nil
}

// prepareGazelle adds what the module zip drops: gazelle builds its repository tools from
// vendor/, and its list of standard packages is regenerated for this Go (v0.26's predates
// slices, maps, cmp and log/slog, which it would otherwise treat as external).
func prepareGazelle(ctx context.Context, dir string, patches []string) error {
	if err := fromModule(ctx, gazelle, dir, patches); err != nil {
		return err
	}
	env := []string{"GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local"}
	if _, err := command.New("go", "mod", "vendor").InDir(dir).WithEnv(env...).Run(ctx); err != nil {
		return err
	}
	std, err := command.New("go", "list", "std").Output(ctx)
	if err != nil {
		return err
	}
	list := filepath.Join(dir, "std-packages.txt")
	if err := os.WriteFile(list, []byte(std+"\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(list)
	_, err = command.New("go", "run", "-mod=vendor", "./language/go/gen_std_package_list", list, "language/go/std_package_list.go").
		InDir(dir).WithEnv("GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=").Run(ctx)
	return err
}

// fromModule copies a module from the Go module cache (downloaded and hash-checked by the go
// command) and applies patches.
func fromModule(ctx context.Context, module, dir string, patches []string) error {
	mods, err := modcache.Download(ctx, module)
	if err != nil {
		return err
	}
	if err := modcache.CopyWritable(mods[0].Dir, dir); err != nil {
		return err
	}
	return applyPatches(ctx, dir, patches)
}

// applyPatches applies each patch with git apply inside a throwaway repository, so git never
// resolves paths against an enclosing checkout (out/ lives inside ours).
func applyPatches(ctx context.Context, dir string, patches []string) error {
	if len(patches) == 0 {
		return nil
	}
	if _, err := command.New("git", "init", "-q").InDir(dir).Run(ctx); err != nil {
		return err
	}
	for _, p := range patches {
		if _, err := command.New("git", "apply", "-p1", p).InDir(dir).Run(ctx); err != nil {
			return fmt.Errorf("patch %s does not apply: %w", filepath.Base(p), err)
		}
	}
	return os.RemoveAll(filepath.Join(dir, ".git"))
}

const coverageStub = "stub v1"

// writeCoverageStub writes a stand-in for @remote_coverage_tools, which every go_test depends on
// and Bazel would otherwise download. `bazel test` works with it; `bazel coverage` does not.
func writeCoverageStub(_ context.Context, dir string) error {
	script := "#!/bin/sh\necho 'bazel coverage is not available offline (stub @remote_coverage_tools)' >&2\nexit 1\n"
	files := map[string]string{
		"WORKSPACE": "workspace(name = \"remote_coverage_tools\")\n",
		"BUILD": `# Stand-in for Bazel's downloaded coverage tools: go_test needs the labels to exist.
package(default_visibility = ["//visibility:public"])

filegroup(name = "coverage_report_generator", srcs = ["unavailable.sh"])

filegroup(name = "lcov_merger", srcs = ["unavailable.sh"])
`,
		"unavailable.sh": script,
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// digest identifies a set of files by content.
func digest(files []string) string {
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "unreadable " + f
		}
		fmt.Fprintf(h, "%s %x\n", filepath.Base(f), sha256.Sum256(data))
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
