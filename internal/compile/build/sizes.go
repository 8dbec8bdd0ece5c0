package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// Size is one binary's size.
type Size struct {
	Name  string
	Bytes int64
}

// CompareSizes builds each component on its own from the same patched tree with the same flags
// as hyperkube, and returns their sizes followed by hyperkube's. The separate binaries are
// deleted afterwards.
func CompareSizes(ctx context.Context, o Options) ([]Size, error) {
	in, err := begin(ctx, o)
	if err != nil {
		return nil, err
	}
	defer in.unlock()
	unlock, err := compiling(o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// One prepared tree serves hyperkube and every component.
	t, err := Prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	res, ok := existing(o.outputDir(in.label), o.target(), in.digest)
	if !ok {
		if res, err = buildPrepared(ctx, o, t, in.overlayFiles, in.goVersion); err != nil {
			return nil, err
		}
	}
	minor, _ := versions.Minor(o.Version)
	flags := goBuildFlags(minor, GitVersion(o.Version, t.Series), t.Commit, t.Pins.ReleaseTime)
	tmp, err := os.MkdirTemp("", "hk-sizes-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var sizes []Size
	components, err := ComponentsOf(o.Root, o.Version)
	if err != nil {
		return nil, err
	}
	for _, c := range components {
		out := filepath.Join(tmp, c)
		o.Log("sizes: go build ./cmd/%s", c)
		args := append(append([]string{}, flags...), "-o", out, "./cmd/"+c)
		if _, err := command.New("go", args...).InDir(t.Dir).WithEnv(buildEnv(runtime.GOARCH)...).Run(ctx); err != nil {
			return nil, fmt.Errorf("build %s: %w", c, err)
		}
		st, err := os.Stat(out)
		if err != nil {
			return nil, err
		}
		sizes = append(sizes, Size{Name: c, Bytes: st.Size()})
	}
	st, err := os.Stat(res.Binary)
	if err != nil {
		return nil, err
	}
	return append(sizes, Size{Name: "hyperkube", Bytes: st.Size()}), nil
}
