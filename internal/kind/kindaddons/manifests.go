package kindaddons

import (
	"context"
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/source/modcache"
)

// FlannelCNIPluginImage is the image our flannel CNI plugin build is tagged with: a name of our
// own, since it is containernetworking/plugins' build of the plugin, not flannel-io's image.
const FlannelCNIPluginImage = "docker.io/hk/flannel-cni-plugin:cni-plugins-" + "v0.9.1"

// Manifest is a manifest kind applies from the node image and the images it names.
type Manifest struct {
	YAML   string
	Images []string
}

// CNIManifest is flannel's kube-flannel.yml from its release, as kind's default CNI: kind templates
// the pod subnet into it (the marker line asks it to), the backend is host-gw (nodes share kind's
// Docker network, so routes suffice and no VXLAN device is needed), the conflist speaks CNI 0.3.1
// (what the plugin we build supports), and the plugin image is ours.
func CNIManifest(ctx context.Context) (*Manifest, error) {
	mods, err := modcache.Download(ctx, FlannelModule)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(mods[0].Dir, "Documentation", "kube-flannel.yml"))
	if err != nil {
		return nil, err
	}
	s := string(data)
	if strings.Contains(s, "{{") {
		return nil, fmt.Errorf("flannel's kube-flannel.yml holds {{, which kind's template would read: review %s", FlannelModule)
	}
	plugin := regexp.MustCompile(`ghcr\.io/flannel-io/flannel-cni-plugin:\S+`)
	edits := []struct{ old, new string }{
		{`"Network": "10.244.0.0/16"`, `"Network": "{{ .PodSubnet }}"`},
		{`"Type": "vxlan"`, `"Type": "host-gw"`},
		{`"cniVersion": "1.0.0"`, `"cniVersion": "0.3.1"`},
	}
	for _, e := range edits {
		if strings.Count(s, e.old) != 1 {
			return nil, fmt.Errorf("flannel's kube-flannel.yml has %d of %s, want 1: review %s", strings.Count(s, e.old), e.old, FlannelModule)
		}
		s = strings.Replace(s, e.old, e.new, 1)
	}
	if !plugin.MatchString(s) {
		return nil, fmt.Errorf("flannel's kube-flannel.yml names no flannel-cni-plugin image: review %s", FlannelModule)
	}
	s = plugin.ReplaceAllString(s, FlannelCNIPluginImage)
	header := "# would you kindly template this file\n" +
		"# flannel " + version(FlannelModule) + "'s Documentation/kube-flannel.yml, as the hk node image's default CNI:\n" +
		"# host-gw backend, kind's pod subnet, CNI 0.3.1, the flannel CNI plugin of " + CNIPluginsModule + ".\n"
	return &Manifest{YAML: header + s, Images: images(s)}, nil
}

// StorageManifest is kind's own default storage manifest (local-path-provisioner as the default
// StorageClass "standard"), read from the constants of kind's node image builder, unchanged: the
// images it names are the ones we build and tag.
func StorageManifest(ctx context.Context, kindModule string) (*Manifest, error) {
	mods, err := modcache.Download(ctx, kindModule)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(mods[0].Dir, "pkg", "build", "nodeimage", "const_storage.go")
	val, err := stringConst(file, "defaultStorageManifest")
	if err != nil {
		return nil, fmt.Errorf("kind's storage manifest: %w", err)
	}
	return &Manifest{YAML: val, Images: images(val)}, nil
}

// stringConst evaluates a string constant of a Go file that needs no imports, as the compiler does.
func stringConst(file, name string) (string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		return "", err
	}
	conf := types.Config{Importer: importer.Default()}
	pkg, err := conf.Check(f.Name.Name, fset, []*ast.File{f}, nil)
	if err != nil {
		return "", err
	}
	c, ok := pkg.Scope().Lookup(name).(*types.Const)
	if !ok || c.Val().Kind() != constant.String {
		return "", fmt.Errorf("%s has no string constant %s", file, name)
	}
	return constant.StringVal(c.Val()), nil
}

var imageRE = regexp.MustCompile(`(?m)^\s*(?:image:|-)\s*([a-z0-9.-]+\.[a-z]+/[a-z0-9./_-]+:[A-Za-z0-9._-]+)\s*$`)

// images lists the distinct image references of a manifest, in order of appearance.
func images(manifest string) []string {
	var out []string
	for _, m := range imageRE.FindAllStringSubmatch(manifest, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}
