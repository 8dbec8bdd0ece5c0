// Package openapigen generates pkg/generated/openapi/zz_generated.openapi.go for releases whose
// k8s.io/kubernetes module zip lacks it (v1.21–v1.23). It does what upstream's
// build/root/Makefile.generated_files does, with the openapi-gen the tree's own go.mod pins, in
// module mode instead of a GOPATH.
package openapigen

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
)

// Output is the generated file, relative to the tree.
const Output = "pkg/generated/openapi/zz_generated.openapi.go"

const (
	outputPackage = "k8s.io/kubernetes/pkg/generated/openapi"
	generator     = "k8s.io/kube-openapi/cmd/openapi-gen"
	boilerplate   = "staging/src/k8s.io/code-generator/hack/boilerplate.go.txt"
	// knownViolations is upstream's list of API rule violations; upstream's make fails when the
	// generator reports a different set, and so do we: it shows the inputs were the same.
	knownViolations = "api/api-rules/violation_exceptions.list"
)

// Ensure makes sure tree (a worktree at commit) has the generated openapi file. Trees that ship
// it are left alone. Generated files are cached under cacheDir by commit, so re-applying the same
// series does not run the generator again.
func Ensure(ctx context.Context, tree, commit, cacheDir string, log func(string, ...any)) error {
	dst := filepath.Join(tree, Output)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	// Not a .go name: out/ lies inside hk's module, and `go build ./...` there would compile it.
	cached := filepath.Join(cacheDir, commit+".go.generated")
	if _, err := os.Stat(cached); err != nil {
		if err := generate(ctx, tree, cacheDir, cached, log); err != nil {
			return fmt.Errorf("generate %s: %w", Output, err)
		}
	}
	data, err := os.ReadFile(cached)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// generate builds the pinned openapi-gen and runs it over the tree, writing the result to cached.
// The tree's go.mod and go.sum are never touched: the go command works on copies (-modfile).
func generate(ctx context.Context, tree, cacheDir, cached string, log func(string, ...any)) error {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(cacheDir, ".gen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(tree, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, f), data, 0o644); err != nil {
			return err
		}
	}
	env := []string{"GOWORK=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0",
		"GOFLAGS=-mod=mod -modfile=" + filepath.Join(tmp, "go.mod")}
	bin := filepath.Join(tmp, "openapi-gen")
	log("openapi: build %s as pinned by the tree", generator)
	if _, err := command.New("go", "build", "-o", bin, generator).InDir(tree).WithEnv(env...).Run(ctx); err != nil {
		return err
	}
	inputs, err := InputPackages(tree)
	if err != nil {
		return err
	}
	if len(inputs) == 0 {
		return fmt.Errorf("no package in %s asks for openapi generation (+k8s:openapi-gen=)", tree)
	}
	log("openapi: generate %s from %d packages", Output, len(inputs))
	report := filepath.Join(tmp, "violations.report")
	out := filepath.Join(tmp, "out")
	_, err = command.New(bin, "--logtostderr", "-i", strings.Join(inputs, ","), "-p", outputPackage,
		"-O", strings.TrimSuffix(filepath.Base(Output), ".go"), "-h", filepath.Join(tree, boilerplate),
		"-r", report, "-o", out).InDir(tree).WithEnv(env...).Run(ctx)
	if err != nil {
		return err
	}
	if err := sameViolations(report, filepath.Join(tree, knownViolations)); err != nil {
		return err
	}
	return os.Rename(filepath.Join(out, outputPackage, filepath.Base(Output)), cached)
}

// sameViolations compares the generator's report with upstream's list, as upstream's make does.
func sameViolations(report, known string) error {
	want, err := os.ReadFile(known)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	got, err := os.ReadFile(report)
	if err != nil {
		return err
	}
	if lines(got) != lines(want) {
		return fmt.Errorf("API rule violations differ from %s: the generator did not see upstream's inputs", knownViolations)
	}
	return nil
}

func lines(b []byte) string {
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	slices.Sort(ls)
	return strings.Join(ls, "\n")
}

var (
	tagLine     = regexp.MustCompile(`^// *\+k8s:`)
	excludedDir = []string{"staging/src/k8s.io/code-generator/", "staging/src/k8s.io/sample-apiserver/"}
)

// InputPackages lists, as import paths, the packages upstream's Makefile feeds openapi-gen for
// pkg/generated/openapi: directories (outside vendor/, "_*" and ".*") holding a Go file with a
// "// +k8s:" comment tag in column 0 that mentions "+k8s:openapi-gen=", except code-generator and
// sample-apiserver. Staging directories are named by their own module paths.
func InputPackages(tree string) ([]string, error) {
	var pkgs []string
	err := filepath.WalkDir(tree, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tree, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if path != tree && (strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".") || rel == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || !asksForOpenAPI(path) {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		for _, x := range excludedDir {
			if strings.HasPrefix(dir+"/", x) {
				return nil
			}
		}
		pkg := "k8s.io/kubernetes/" + dir
		if dir == "." {
			pkg = "k8s.io/kubernetes"
		} else if s, ok := strings.CutPrefix(dir, "staging/src/"); ok {
			pkg = s
		}
		if len(pkgs) == 0 || pkgs[len(pkgs)-1] != pkg {
			pkgs = append(pkgs, pkg)
		}
		return nil
	})
	slices.Sort(pkgs)
	return slices.Compact(pkgs), err
}

// asksForOpenAPI reports whether a Go file carries a column-0 "+k8s:" tag and mentions
// "+k8s:openapi-gen=" anywhere, the two greps of upstream's Makefile.
func asksForOpenAPI(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	tagged, mentions := false, false
	for sc.Scan() {
		l := sc.Text()
		tagged = tagged || tagLine.MatchString(l)
		mentions = mentions || strings.Contains(l, "+k8s:openapi-gen=")
		if tagged && mentions {
			return true
		}
	}
	return false
}
