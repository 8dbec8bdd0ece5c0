package versions

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/hardened-hyperkube/hk/internal/source/modcache"
)

const (
	preModuleEtcd    = "go.etcd.io/etcd"
	oldestModuleEtcd = "v3.5.0"
)

// Resolve downloads k8s.io/kubernetes@version and writes pins for it: every staging module the
// tree's go.mod both requires and replaces from ./staging, and the etcd version it requires.
// Staging modules that are replaced but not required (sample-controller, sample-cli-plugin) are
// never loaded by a build, so they are not pinned.
func Resolve(ctx context.Context, version string) (*Pins, error) {
	stagingVersion, err := StagingVersion(version)
	if err != nil {
		return nil, err
	}
	mods, err := modcache.Download(ctx, "k8s.io/kubernetes@"+version)
	if err != nil {
		return nil, err
	}
	k8s := mods[0]
	data, err := os.ReadFile(k8s.GoMod)
	if err != nil {
		return nil, err
	}
	f, err := modfile.Parse(k8s.GoMod, data, nil)
	if err != nil {
		return nil, fmt.Errorf("parse go.mod of k8s.io/kubernetes@%s: %w", version, err)
	}
	releaseTime, err := modcache.ReadTime(k8s.Info)
	if err != nil {
		return nil, err
	}
	p := &Pins{
		Kubernetes:  Module{Path: k8s.Path, Version: k8s.Version, Sum: k8s.Sum},
		ReleaseTime: releaseTime,
	}
	if f.Go != nil {
		p.GoDirective = f.Go.Version
	}
	required := map[string]bool{}
	for _, r := range f.Require {
		required[r.Mod.Path] = true
		if r.Mod.Path == "go.etcd.io/etcd/server/v3" || (p.Etcd == "" && r.Mod.Path == "go.etcd.io/etcd/api/v3") {
			p.Etcd = r.Mod.Version
		}
	}
	var want []string
	for _, r := range f.Replace {
		if strings.HasPrefix(r.New.Path, "./staging/") && required[r.Old.Path] {
			want = append(want, r.Old.Path+"@"+stagingVersion)
		}
	}
	staged, err := modcache.Download(ctx, want...)
	if err != nil {
		return nil, err
	}
	for _, m := range staged {
		p.Staging = append(p.Staging, Module{Path: m.Path, Version: m.Version, Sum: m.Sum})
	}
	if p.Etcd == "" && required[preModuleEtcd] {
		// v1.21 and older require the pre-module etcd 3.4 client, whose server cannot be built
		// as a module here. etcd 3.5 serves the 3.4 client API unchanged, so the lab runs the
		// oldest 3.5 release instead.
		p.Etcd = oldestModuleEtcd
	}
	if p.Etcd == "" {
		return nil, fmt.Errorf("k8s.io/kubernetes@%s requires no etcd module", version)
	}
	return p, p.validate()
}

// Newer lists the patch releases after current's on its minor that the module proxy serves
// whole (k8s.io/kubernetes and every staging module current pins), oldest first; and those it
// serves only in part, which upstream is still publishing: not yet releases, not errors.
func Newer(ctx context.Context, current *Pins) (whole, partial []string, err error) {
	minor, err := Minor(current.Kubernetes.Version)
	if err != nil {
		return nil, nil, err
	}
	all, err := modcache.Versions(ctx, current.Kubernetes.Path)
	if err != nil {
		return nil, nil, err
	}
	var candidates []string
	for _, v := range all {
		if m, err := Minor(v); err == nil && m == minor && PatchLevel(v) > PatchLevel(current.Kubernetes.Version) {
			candidates = append(candidates, v)
		}
	}
	sort.Slice(candidates, func(i, j int) bool { return PatchLevel(candidates[i]) < PatchLevel(candidates[j]) })
	for _, v := range candidates {
		staging, _ := StagingVersion(v)
		var mods []string
		for _, m := range current.Staging {
			mods = append(mods, m.Path+"@"+staging)
		}
		missing, err := modcache.Missing(ctx, mods...)
		if err != nil {
			return nil, nil, err
		}
		if len(missing) > 0 {
			partial = append(partial, v)
			continue
		}
		whole = append(whole, v)
	}
	return whole, partial, nil
}

// patchLevel returns 2 for v1.37.2 (-1 when version is not a release version).
func PatchLevel(version string) int {
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[2])
	return n
}
