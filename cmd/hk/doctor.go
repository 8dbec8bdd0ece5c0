package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardened-hyperkube/hk/internal/diagnose/doctor"
	"github.com/hardened-hyperkube/hk/internal/proof/lab"
	"github.com/hardened-hyperkube/hk/internal/source/vuln"
	"github.com/spf13/pflag"
)

func init() {
	register(leaf("doctor", "predict whether this node, rootfs or binary survives dead nameservers (exit 0 safe, 3 at risk, 4 will fail)", defineDoctor))
}

func defineDoctor(fs *pflag.FlagSet) runFunc {
	root := fs.String("root", "/", "the node (/) or an unpacked image rootfs")
	binary := fs.String("binary", "", "kube-apiserver or hyperkube (default: looked up under --root)")
	ipv6 := fs.String("ipv6", "auto", "whether lo has ::1: auto reads this node; on|off for a rootfs")
	manifest := fs.String("manifest", "", "kube-apiserver static-pod manifest (default <root>/etc/kubernetes/manifests/kube-apiserver.yaml)")
	bind := fs.String("bind-address", "", "the apiserver's --bind-address, overriding the manifest")
	asJSON := fs.Bool("json", false, "print JSON")
	return func(ctx context.Context, e *env, args []string) error {
		switch *ipv6 {
		case "auto", "on", "off":
		default:
			return fmt.Errorf("--ipv6 must be auto, on or off, not %q", *ipv6)
		}
		if st, err := os.Stat(*root); err != nil || !st.IsDir() {
			return fmt.Errorf("--root %s is not a directory", *root)
		}
		r := doctor.Examine(ctx, doctor.Options{Root: *root, Binary: *binary, IPv6: *ipv6, Manifest: *manifest,
			BindAddress: *bind, RepoRoot: e.root, Vuln: func(ctx context.Context, bin string) (*vuln.Report, error) {
				// Offline: the database and scanner hk vuln scan prepared, never the network.
				p, err := vuln.LoadPins(e.root)
				if err != nil {
					return nil, err
				}
				t, err := vuln.Ready(p, filepath.Join(e.machineCacheDir(), "vuln"))
				if err != nil {
					return nil, err
				}
				return t.ScanBinary(ctx, bin)
			}})
		if *asJSON {
			_ = lab.WriteJSON(os.Stdout, r)
		} else {
			r.Write(os.Stdout)
		}
		if code := r.ExitCode(); code != 0 {
			return exitStatus(code)
		}
		return nil
	}
}
