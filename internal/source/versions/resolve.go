package versions

import (
	"context"
	"fmt"
	"os"
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
