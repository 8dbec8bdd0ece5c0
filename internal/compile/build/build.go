// Package build turns pinned upstream sources plus a patch series into a static, reproducible,
// version-stamped multi-call hyperkube with checksums and a provenance record.
package build

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/filelock"
	"github.com/hardened-hyperkube/hk/internal/plumbing/progress"
	"github.com/hardened-hyperkube/hk/internal/source/modcache"
	"github.com/hardened-hyperkube/hk/internal/source/openapigen"
	"github.com/hardened-hyperkube/hk/internal/source/series"
	"github.com/hardened-hyperkube/hk/internal/source/tree"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// Components are the commands every release's hyperkube runs; each gets a symlink next to the
// binary. A release's overlay may add more (kubeadm from v1.35): see ComponentsOf.
var Components = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet", "kubectl"}

// componentKey matches one entry of an overlay's components map: `	"kubeadm": func() int {`.
var componentKey = regexp.MustCompile(`(?m)^\t"([a-z0-9-]+)":\s+func\(\)`)

// ComponentsOf lists the commands a release's hyperkube runs, read from its overlay source so
// the symlinks can never disagree with the binary.
func ComponentsOf(root, version string) ([]string, error) {
	pins, err := versions.Load(root, version)
	if err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(pins.OverlayDir(root), "*.go"))
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range componentKey.FindAllStringSubmatch(string(data), -1) {
			names = append(names, m[1])
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no components in the hyperkube overlay of %s", version)
	}
	sort.Strings(names)
	return names, nil
}

// Options selects what to build.
type Options struct {
	Root      string // repository root (pins, patches, overlay)
	Version   string // e.g. v1.37.2
	Selection string // series.All, series.None or patch numbers
	OutDir    string // where out/<version>[-label]/ is created
	CacheDir  string // materialized trees and worktrees
	// Arch is the GOARCH to build for (linux only); empty means the host's. A foreign
	// architecture's outputs get a -linux-<arch> suffix: out/v1.37.2-linux-arm64.
	Arch string
	// Target is what to build: "" or Hyperkube for the multi-call binary, or one component
	// (e.g. kube-apiserver, upstream's own ./cmd/kube-apiserver) for proofs that boot only it.
	// A component's outputs get a -<component> suffix: out/v1.36.3-unpatched-kube-apiserver.
	Target string
	// SharedDir, when set, keeps every finished build under its inputs digest and serves a
	// later build with the same inputs from there (hk: <machine cache>/builds, so a fresh clone
	// on a warm machine links nothing it linked before).
	SharedDir string
	// FIPS builds with Go's certified FIPS 140-3 module (GOFIPS140, from the toolchain's
	// lib/fips140/certified.txt), which also turns FIPS mode on by default; outputs get a -fips
	// suffix: out/v1.37.2-fips.
	FIPS bool
	Log  tree.Log
	// Progress, when set, counts the packages go build compiles against those it must
	// (go list's Stale), with an estimate from the last build of the same target.
	Progress *progress.Reporter
}

// Hyperkube is the multi-call target, the default.
const Hyperkube = "hyperkube"

func (o Options) target() string {
	if o.Target == "" {
		return Hyperkube
	}
	return o.Target
}

// checkTarget accepts hyperkube or one of the release's components.
func (o Options) checkTarget() error {
	if o.target() == Hyperkube {
		return nil
	}
	components, err := ComponentsOf(o.Root, o.Version)
	if err != nil {
		return err
	}
	if !slices.Contains(components, o.target()) {
		return fmt.Errorf("unknown target %q for %s (have hyperkube, %s)", o.target(), o.Version, strings.Join(components, ", "))
	}
	return nil
}

// outputDir is where this build's outputs go for a selection's label.
func (o Options) outputDir(label string) string {
	if o.FIPS {
		label = strings.TrimPrefix(label+"-fips", "-")
	}
	dir := ArchOutputDir(o.OutDir, o.Version, label, o.arch())
	if o.target() != Hyperkube {
		dir += "-" + o.target()
	}
	return dir
}

// env is the go command's environment for this build.
func (o Options) env() ([]string, error) {
	env := buildEnv(o.arch())
	if !o.FIPS {
		return env, nil
	}
	module, err := FIPSModule()
	if err != nil {
		return nil, err
	}
	return append(env, "GOFIPS140="+module), nil
}

// FIPSModule is the version of Go's FIPS 140-3 module the toolchain names certified
// (GOROOT/lib/fips140/certified.txt: v1.0.0-c2097c7c for Go 1.26.8); an exact version, not the
// alias, so the build info and the provenance name it.
func FIPSModule() (string, error) {
	goroot, err := command.New("go", "env", "GOROOT").Output(context.Background())
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(filepath.Join(goroot, "lib", "fips140", "certified.txt"))
	if err != nil {
		return "", fmt.Errorf("this Go toolchain names no certified FIPS 140-3 module: %w", err)
	}
	v := strings.TrimSpace(string(data))
	if !strings.HasPrefix(v, "v") {
		return "", fmt.Errorf("%s: %q is not a module version", filepath.Join(goroot, "lib", "fips140", "certified.txt"), v)
	}
	return v, nil
}

func (o Options) arch() string {
	if o.Arch == "" {
		return runtime.GOARCH
	}
	return o.Arch
}

// Arches are the GOARCH values a release may target: every linux architecture upstream
// Kubernetes publishes server binaries for.
var Arches = []string{"amd64", "arm64", "s390x", "ppc64le"}

// Provenance records every input of a build.
type Provenance struct {
	Version      string            `json:"version"`
	GitVersion   string            `json:"gitVersion"`
	GitCommit    string            `json:"gitCommit"`
	BuildDate    string            `json:"buildDate"`
	PinsDigest   string            `json:"pinsDigest"`
	Modules      []versions.Module `json:"modules"`
	Patches      []series.Patch    `json:"patches"`
	SeriesDigest string            `json:"seriesDigest,omitempty"`
	// Target is the component built on its own; empty for hyperkube.
	Target        string `json:"target,omitempty"`
	OverlaySHA256 string `json:"overlaySha256,omitempty"`
	// InputsDigest covers everything above that decides the binary; a build whose inputs
	// match an existing output's is skipped.
	InputsDigest string   `json:"inputsDigest"`
	GoVersion    string   `json:"goVersion"`
	Env          []string `json:"env"`
	Flags        []string `json:"flags"`
	SHA256       string   `json:"sha256"`
}

// Result describes a finished build.
type Result struct {
	Dir        string
	Binary     string
	Provenance Provenance
	Elapsed    time.Duration
}

// OutputDir is where a selection's outputs go: out/v1.37.2 for the whole series,
// out/v1.37.2-unpatched for none, out/v1.37.2-p0002 for a subset.
func OutputDir(outDir, version, label string) string {
	return ArchOutputDir(outDir, version, label, runtime.GOARCH)
}

// ArchOutputDir is OutputDir for a target architecture: the host's has no suffix, another
// gets -linux-<arch> (out/v1.37.2-linux-arm64).
func ArchOutputDir(outDir, version, label, arch string) string {
	name := version
	if label != "" {
		name += "-" + label
	}
	if arch != runtime.GOARCH {
		name += "-linux-" + arch
	}
	return filepath.Join(outDir, name)
}

// GoEnv is how the tree's binaries compile: module mode against the tree's go.mod, no cgo, this
// machine's Go. Other builds from a tree use it so they share compiled packages.
var GoEnv = []string{"GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOTOOLCHAIN=local"}

// buildEnv is the go command's environment for a target architecture; GOOS and GOARCH are
// always explicit so a provenance record names them.
func buildEnv(arch string) []string {
	return append(append([]string{}, GoEnv...), "GOOS=linux", "GOARCH="+arch)
}

// Tree is a materialized tree with a series applied, ready to build or test.
type Tree struct {
	Pins   *versions.Pins
	Series *series.Series
	Label  string // series.Label: "" for the whole series
	Dir    string // the worktree
	Commit string // HEAD after git am
}

// Prepare materializes the pinned tree and applies the selected patches in the selection's own
// worktree under CacheDir.
func Prepare(ctx context.Context, o Options) (*Tree, error) {
	pins, err := versions.Load(o.Root, o.Version)
	if err != nil {
		return nil, err
	}
	minor, _ := versions.Minor(o.Version)
	s, err := series.Select(o.Root, minor, o.Selection)
	if err != nil {
		return nil, err
	}
	if err := command.Require("go", "git"); err != nil {
		return nil, err
	}
	pristine, err := tree.Materialize(ctx, pins, o.CacheDir, o.Log)
	if err != nil {
		return nil, err
	}
	label := s.Label(o.Root)
	work := filepath.Join(o.CacheDir, o.Version, "work-"+nonEmpty(label, "patched"))
	// make test's stages prepare the same worktrees at once (a build, upstream's tests, the
	// conformance suite): one applies while the others wait, then find it up to date.
	unlock, err := lock(filepath.Join(o.CacheDir, o.Version, ".apply.lock"), "another process applying patches to "+o.Version, o.Log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	o.Log("apply %s: %d patches into %s", o.Version, len(s.Patches), work)
	commit, err := series.Apply(ctx, pins, pristine, work, s)
	if err != nil {
		return nil, err
	}
	// Generated after the series so a patch to an API type is reflected; a no-op for releases
	// whose module zip ships the file.
	if err := openapigen.Ensure(ctx, work, commit, filepath.Join(o.CacheDir, o.Version, "openapi"), o.Log); err != nil {
		return nil, err
	}
	return &Tree{Pins: pins, Series: s, Label: label, Dir: work, Commit: commit}, nil
}

// PrepareHyperkube prepares the tree as Prepare does and drops the hyperkube main package in
// (cmd/hyperkube), so tools that read the program from source (govulncheck) see what it links.
func PrepareHyperkube(ctx context.Context, o Options) (*Tree, error) {
	o.Target = Hyperkube
	t, err := Prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	files, err := o.overlayFiles(t.Pins)
	if err != nil {
		return nil, err
	}
	_, err = copyOverlay(files, filepath.Join(t.Dir, "cmd", "hyperkube"))
	return t, err
}

// Build runs pins → materialize → patch → go build and writes the outputs atomically.
func Build(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	in, err := begin(ctx, o)
	if err != nil {
		return nil, err
	}
	defer in.unlock()
	if res, ok := existing(o.outputDir(in.label), o.target(), in.digest); ok {
		o.Log("build %s: %s is up to date", o.Version, res.Dir)
		res.Elapsed = time.Since(start)
		return res, nil
	}
	if res, ok := fromShared(o, in); ok {
		o.Log("build %s: %s copied from %s (built before from the same inputs, sha256 checked)", o.Version, res.Dir, o.SharedDir)
		res.Elapsed = time.Since(start)
		return res, nil
	}
	unlock, err := compiling(o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	t, err := Prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	res, err := buildPrepared(ctx, o, t, in.overlayFiles, in.goVersion)
	if err != nil {
		return nil, err
	}
	toShared(o, res)
	res.Elapsed = time.Since(start)
	return res, nil
}

// inputs are what a build checks before it prepares a tree.
type inputs struct {
	pins         *versions.Pins
	overlayFiles []string
	goVersion    string
	digest       string // the inputs digest the outputs must record
	label        string // the selection's label, part of the output directory's name
	unlock       func()
}

// begin validates o (version, target, architecture), computes its inputs digest and takes the
// lock of its output directory: the same output is built by one process at a time, while an up
// to date build elsewhere need not wait for it.
func begin(ctx context.Context, o Options) (*inputs, error) {
	pins, err := versions.Load(o.Root, o.Version)
	if err != nil {
		return nil, err // unknown version: say so before anything else
	}
	if err := o.checkTarget(); err != nil {
		return nil, err
	}
	if !slices.Contains(Arches, o.arch()) {
		return nil, fmt.Errorf("unknown architecture %q (have %s)", o.arch(), strings.Join(Arches, ", "))
	}
	overlayFiles, err := o.overlayFiles(pins)
	if err != nil {
		return nil, err
	}
	goVersion, err := command.New("go", "env", "GOVERSION").Output(ctx)
	if err != nil {
		return nil, err
	}
	digest, label, err := o.inputs(pins, overlayFiles, goVersion)
	if err != nil {
		return nil, err
	}
	locks := filepath.Join(o.OutDir, ".locks")
	if err := os.MkdirAll(locks, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lock(filepath.Join(locks, filepath.Base(o.outputDir(label))+".lock"), "a build of the same output", o.Log)
	if err != nil {
		return nil, err
	}
	return &inputs{pins: pins, overlayFiles: overlayFiles, goVersion: goVersion, digest: digest, label: label, unlock: unlock}, nil
}

// compiling takes the lock every compile under o.OutDir shares: a Kubernetes build uses both
// cores and ~3.5 GB, so two at once only slow each other down.
func compiling(o Options) (func(), error) {
	return lock(filepath.Join(o.OutDir, ".build.lock"), "another build", o.Log)
}

// overlayFiles are the hyperkube main package's sources: the shared dispatching main and the
// release's components. A component target builds upstream's own main and needs none.
func (o Options) overlayFiles(pins *versions.Pins) ([]string, error) {
	if o.target() != Hyperkube {
		return nil, nil
	}
	overlay := pins.OverlayDir(o.Root)
	files, _ := filepath.Glob(filepath.Join(overlay, "*.go"))
	if len(files) == 0 {
		return nil, fmt.Errorf("no hyperkube overlay for %s at %s (set \"overlay\" in its pins to share another)", o.Version, overlay)
	}
	common, _ := filepath.Glob(filepath.Join(o.Root, "build", "hyperkube", "common", "*.go"))
	return append(common, files...), nil
}

// buildPrepared compiles o's target in a prepared tree and renames the outputs into place; the
// caller holds the build lock.
func buildPrepared(ctx context.Context, o Options, t *Tree, overlayFiles []string, goVersion string) (*Result, error) {
	pins, s, label, work, commit := t.Pins, t.Series, t.Label, t.Dir, t.Commit
	minor, _ := versions.Minor(o.Version)
	name, pkg, overlayDigest := o.target(), "./cmd/"+o.target(), ""
	if name == Hyperkube {
		var err error
		if overlayDigest, err = copyOverlay(overlayFiles, filepath.Join(work, "cmd", "hyperkube")); err != nil {
			return nil, err
		}
	}

	gitVersion := GitVersion(o.Version, s)
	flags := goBuildFlags(minor, gitVersion, commit, pins.ReleaseTime)

	final := o.outputDir(label)
	tmp, err := os.MkdirTemp(o.OutDir, "."+filepath.Base(final)+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	bin := filepath.Join(tmp, name)
	o.Log("build %s: go build %s (%s, linux/%s)", o.Version, pkg, gitVersion, o.arch())
	env, err := o.env()
	if err != nil {
		return nil, err
	}
	key, what := "go build "+o.Version+" linux/"+o.arch(), "build "+o.Version
	if name != Hyperkube {
		key, what = key+" "+name, what+" "+name
	}
	if err := Compile(ctx, work, env, flags[1:], []string{"-o", bin}, []string{pkg}, o.Progress, key, what); err != nil {
		return nil, fmt.Errorf("build %s: %w", o.Version, err)
	}
	if err := checkStatic(bin); err != nil {
		return nil, err
	}
	sum, err := fileSHA256(bin)
	if err != nil {
		return nil, err
	}
	if name == Hyperkube {
		components, err := ComponentsOf(o.Root, o.Version)
		if err != nil {
			return nil, err
		}
		for _, c := range components {
			if err := os.Symlink(Hyperkube, filepath.Join(tmp, c)); err != nil {
				return nil, err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "SHA256SUMS"), []byte(sum+"  "+name+"\n"), 0o644); err != nil {
		return nil, err
	}
	prov := Provenance{
		Version: o.Version, GitVersion: gitVersion, GitCommit: commit, BuildDate: pins.ReleaseTime,
		PinsDigest: pins.Digest(), Modules: pins.All(), Patches: relativePatches(o.Root, s.Patches),
		SeriesDigest: s.Digest(), OverlaySHA256: overlayDigest, GoVersion: goVersion,
		Env: env, Flags: flags, SHA256: sum,
	}
	if name != Hyperkube {
		prov.Target = name
	}
	prov.InputsDigest = inputsDigest(o.Version, pins, s, targetInputs(name, overlayDigest), goVersion, env)
	data, err := json.MarshalIndent(prov, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "provenance.json"), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(final); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, err
	}
	return &Result{Dir: final, Binary: filepath.Join(final, name), Provenance: prov}, nil
}

// targetInputs is what besides the tree decides a target's main package: hyperkube's overlay,
// or the component's name (its main is upstream's, in the tree).
func targetInputs(name, overlayDigest string) string {
	if name == Hyperkube {
		return overlayDigest
	}
	return "target " + name
}

// Compile runs `go build flags… extra… targets…` in dir. With a reporter it first counts the
// packages the build cache cannot serve (go list's Stale, with the same flags: -trimpath changes
// every package's cache key), then each package `go build -v` names, against that count and
// with an estimate from the last run of the same key. extra holds flags go list does not take (-o).
func Compile(ctx context.Context, dir string, env, flags, extra, targets []string, rep *progress.Reporter, key, what string) error {
	args := append(append(append([]string{"build"}, flags...), extra...), targets...)
	cmd := command.New("go", args...).InDir(dir).WithEnv(env...)
	if rep == nil {
		_, err := cmd.Run(ctx)
		return err
	}
	list := append(append([]string{"list", "-deps", "-f", "{{.Stale}}"}, flags...), targets...)
	out, err := command.New("go", list...).InDir(dir).WithEnv(env...).Output(ctx)
	if err != nil {
		return err
	}
	all, stale := len(strings.Fields(out)), strings.Count(out, "true")
	rep.Logf("%s: %d of %d packages to compile, %d from the build cache", what, stale, all, all-stale)
	step := rep.Step(key, what+": compiled", "packages", stale)
	cmd.Args = append([]string{"build", "-v"}, cmd.Args[1:]...)
	cmd.Stderr = progress.Lines(func(line string) {
		// go build -v names each package it compiles; compiler messages have spaces or colons.
		if line != "" && !strings.ContainsAny(line, " :\t") && !strings.HasPrefix(line, "#") {
			step.Advance(line)
		}
	})
	if _, err := cmd.Run(ctx); err != nil {
		return err
	}
	step.Done()
	return nil
}

// GitVersion is the version a build reports: the release, plus "+hk.<series digest>" when
// patches are applied (build metadata, so version comparisons are unaffected).
func GitVersion(version string, s *series.Series) string {
	if d := s.Digest(); d != "" {
		return version + "+hk." + d[:12]
	}
	return version
}

// goBuildFlags are the go build flags of every binary: trimmed, stripped and version-stamped
// the way upstream's hack/lib/version.sh stamps them.
func goBuildFlags(minor, gitVersion, commit, buildDate string) []string {
	return []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", VersionLDFlags(minor, gitVersion, commit, buildDate)}
}

// VersionLDFlags stamps a binary of the tree as upstream's hack/lib/version.sh does (what
// `version` commands and the e2e suite read), stripped: -s -w and -X of client-go's and
// component-base's version variables.
func VersionLDFlags(minor, gitVersion, commit, buildDate string) string {
	major, minorNum, _ := strings.Cut(strings.TrimPrefix(minor, "v"), ".")
	ldflags := []string{"-s", "-w"}
	for _, pkg := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
		for _, kv := range [][2]string{{"gitVersion", gitVersion}, {"gitCommit", commit}, {"gitTreeState", "clean"},
			{"buildDate", buildDate}, {"gitMajor", major}, {"gitMinor", minorNum}} {
			ldflags = append(ldflags, fmt.Sprintf("-X '%s.%s=%s'", pkg, kv[0], kv[1]))
		}
	}
	return strings.Join(ldflags, " ")
}

// inputsDigest identifies what decides the binary: release, pinned modules, patches, overlay,
// toolchain and build settings.
func inputsDigest(version string, pins *versions.Pins, s *series.Series, overlayDigest, goVersion string, env []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s\n%q\n", version, pins.Digest(), s.Digest(), overlayDigest, goVersion, env)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// inputs returns the inputs digest of o's build and its selection's label.
func (o Options) inputs(pins *versions.Pins, overlayFiles []string, goVersion string) (string, string, error) {
	minor, _ := versions.Minor(o.Version)
	s, err := series.Select(o.Root, minor, o.Selection)
	if err != nil {
		return "", "", err
	}
	overlayDigest := ""
	if o.target() == Hyperkube {
		if overlayDigest, err = digestFiles(overlayFiles); err != nil {
			return "", "", err
		}
	}
	env, err := o.env()
	if err != nil {
		return "", "", err
	}
	return inputsDigest(o.Version, pins, s, targetInputs(o.target(), overlayDigest), goVersion, env), s.Label(o.Root), nil
}

// existing returns the outputs in dir when their provenance records the wanted inputs and the
// binary still has the recorded checksum.
func existing(dir, name, want string) (*Result, bool) {
	data, err := os.ReadFile(filepath.Join(dir, "provenance.json"))
	if err != nil {
		return nil, false
	}
	var prov Provenance
	if json.Unmarshal(data, &prov) != nil || prov.InputsDigest != want {
		return nil, false
	}
	bin := filepath.Join(dir, name)
	if sum, err := fileSHA256(bin); err != nil || sum != prov.SHA256 {
		return nil, false
	}
	return &Result{Dir: dir, Binary: bin, Provenance: prov}, true
}

// fromShared copies a build with the same inputs out of SharedDir into place: what the Go build
// cache is for packages, this is for the linked binary, which the Go cache does not keep.
func fromShared(o Options, in *inputs) (*Result, bool) {
	if o.SharedDir == "" {
		return nil, false
	}
	cached, ok := existing(filepath.Join(o.SharedDir, in.digest), o.target(), in.digest)
	if !ok {
		return nil, false
	}
	final := o.outputDir(in.label)
	if err := placeCopy(cached.Dir, o.OutDir, final); err != nil {
		o.Log("build %s: the shared copy could not be used: %v", o.Version, err)
		return nil, false
	}
	return existing(final, o.target(), in.digest)
}

// toShared keeps a copy of a finished build in SharedDir under its inputs digest. A failure is
// reported, not returned: the build itself succeeded.
func toShared(o Options, res *Result) {
	if o.SharedDir == "" {
		return
	}
	if err := os.MkdirAll(o.SharedDir, 0o755); err != nil {
		o.Log("build %s: not kept in %s: %v", o.Version, o.SharedDir, err)
		return
	}
	if err := placeCopy(res.Dir, o.SharedDir, filepath.Join(o.SharedDir, res.Provenance.InputsDigest)); err != nil {
		o.Log("build %s: not kept in %s: %v", o.Version, o.SharedDir, err)
	}
}

// placeCopy copies the files and symlinks of src into a temporary directory under parent and
// renames it to dst, so dst is whole or absent. Files are hard-linked where the filesystem
// allows: both sides are checked by checksum before use.
func placeCopy(src, parent, dst string) error {
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(tmp, e.Name())
		switch {
		case e.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(from)
			if err == nil {
				err = os.Symlink(target, to)
			}
			if err != nil {
				return err
			}
		case e.Type().IsRegular():
			if os.Link(from, to) == nil {
				continue
			}
			if err := copyRegular(from, to); err != nil {
				return err
			}
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

func copyRegular(from, to string) error {
	st, err := os.Stat(from)
	if err != nil {
		return err
	}
	return modcache.CopyFile(from, to, st.Mode().Perm())
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// relativePatches records patch paths relative to the repository so provenance is the same on
// every checkout.
func relativePatches(root string, ps []series.Patch) []series.Patch {
	out := make([]series.Patch, len(ps))
	for i, p := range ps {
		out[i] = p
		if rel, err := filepath.Rel(root, p.Path); err == nil {
			out[i].Path = rel
		}
	}
	return out
}

// copyOverlay drops the hyperkube main package into the tree and returns a digest of it.
func copyOverlay(files []string, dst string) (string, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), data, 0o644); err != nil {
			return "", err
		}
	}
	return digestFiles(files)
}

func digestFiles(files []string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %x\n", filepath.Base(f), sha256.Sum256(data))
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// checkStatic fails if the binary asks for a dynamic loader.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("%s is dynamically linked; expected a static binary", path)
		}
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// lock holds an exclusive lock on path until the returned function is called, saying so when it
// has to wait for what holds it.
func lock(path, holder string, log tree.Log) (func(), error) {
	return filelock.Lock(path, func() { log("waiting for %s to finish (%s)", holder, path) })
}
