package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/compile/etcdbuild"
	"github.com/hardened-hyperkube/hk/internal/proof/lab"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	profiles := &cobra.Command{Use: "profiles", Short: "list the network profiles", Args: cobra.NoArgs, Run: func(*cobra.Command, []string) {
		for _, p := range lab.Profiles() {
			fmt.Printf("%-13s %s\n", p.Name, p.Description)
		}
	}}
	register(
		group("lab", "boot etcd + kube-apiserver in a sandbox under a network profile",
			leaf("run", "boot one build under one profile and report", defineLabRun),
			leaf("matrix", "boot each build under each profile: one table", defineLabMatrix),
			leaf("soak", "power-cycle one build under one profile, N boots", defineLabSoak),
			leaf("storm", "restart several apiservers at once against one etcd", defineLabStorm),
			profiles),
		leaf("etcd", "build out/etcd/<version>/etcd at the version a release pins", defineEtcd),
	)
	for name, main := range lab.HiddenCommands {
		hiddenCommands[name] = main
	}
}

func defineEtcd(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "v1.37.2", "Kubernetes release whose pinned etcd to build")
	return func(ctx context.Context, e *env, args []string) error {
		pins, err := versions.Load(e.root, *version)
		if err != nil {
			return err
		}
		path, err := etcdbuild.Ensure(ctx, e.root, e.outDir(), pins.Etcd, e.logf)
		if err != nil {
			return err
		}
		fmt.Println(path)
		return nil
	}
}

// labFlags are shared by run, matrix and soak.
type labFlags struct {
	version  *string
	etcd     *string
	deadline *time.Duration
	hold     *time.Duration
	dnsBack  *time.Duration
	stall    *time.Duration
	keep     *bool
	asJSON   *bool
	godebug  *string
	etcdDbg  *string
	// Lifecycle events during a boot.
	termAfter, ipv6OffAfterReady *time.Duration
}

func addLabFlags(fs *pflag.FlagSet) *labFlags {
	return &labFlags{
		version:  fs.String("version", "v1.37.2", "release whose pinned etcd version to use"),
		etcd:     fs.String("etcd", "", "etcd binary (default: built from the Go module proxy at the pinned version)"),
		deadline: fs.Duration("deadline", 150*time.Second, "how long to wait for /readyz"),
		hold:     fs.Duration("hold", 60*time.Second, "how long to keep watching after ready"),
		dnsBack:  fs.Duration("dns-back", lab.DefaultTransientDNSBack, "transient profile: when the nameservers start answering"),
		stall:    fs.Duration("etcd-stall", lab.DefaultEtcdStall, "etcd-stall profile: how long etcd stays frozen once the apiserver serves"),
		keep:     fs.Bool("keep", false, "keep the work directory (logs, certificates) for inspection"),
		asJSON:   fs.Bool("json", false, "print JSON"),
		godebug:  fs.String("godebug", "", "the apiserver's GODEBUG (fips140=only: FIPS 140-3 mode, a non-approved algorithm fails)"),
		etcdDbg:  fs.String("etcd-godebug", "", "etcd's GODEBUG (fips140=only needs patches/etcd/<version>: SHA-1 member IDs, etcd-io/etcd#21673)"),
		termAfter: fs.Duration("term-after", 0,
			"send the apiserver SIGTERM this long after its start and record how it exits (0: never)"),
		ipv6OffAfterReady: fs.Duration("ipv6-off-after-ready", 0,
			"disable IPv6 in the sandbox this long after ready; the hold must outlast it by 25s for the identity-lease check (0: never)"),
	}
}

func (f *labFlags) options(ctx context.Context, e *env, binary, profile string) (lab.Options, error) {
	p, err := lab.LookupProfile(profile)
	if err != nil {
		return lab.Options{}, err
	}
	if p.DNSAnswersAfter > 0 {
		p.DNSAnswersAfter = *f.dnsBack
	}
	if p.EtcdStallFor > 0 {
		if *f.stall <= 0 {
			return lab.Options{}, fmt.Errorf("--etcd-stall must be positive, got %v", *f.stall)
		}
		p.EtcdStallFor = *f.stall
	}
	etcd := *f.etcd
	if etcd == "" {
		pins, err := versions.Load(e.root, *f.version)
		if err != nil {
			return lab.Options{}, err
		}
		if etcd, err = etcdbuild.Ensure(ctx, e.root, e.outDir(), pins.Etcd, e.logf); err != nil {
			return lab.Options{}, err
		}
	}
	if binary == "" {
		return lab.Options{}, errors.New("--binary is required (e.g. out/v1.37.2/hyperkube)")
	}
	return lab.Options{Binary: binary, Etcd: etcd, Profile: p, Deadline: *f.deadline, Hold: *f.hold,
		TermAfter: *f.termAfter, IPv6OffAfterReady: *f.ipv6OffAfterReady, Keep: *f.keep, GODEBUG: *f.godebug, EtcdGODEBUG: *f.etcdDbg, Log: e.logf}, nil
}

func defineLabRun(fs *pflag.FlagSet) runFunc {
	binary := fs.String("binary", "", "hyperkube or kube-apiserver to boot")
	profile := fs.String("profile", "field", "network profile (hk lab profiles)")
	lf := addLabFlags(fs)
	return func(ctx context.Context, e *env, args []string) error {
		o, err := lf.options(ctx, e, *binary, *profile)
		if err != nil {
			return err
		}
		res, err := lab.Run(ctx, o)
		if res != nil {
			if *lf.asJSON {
				_ = lab.WriteJSON(os.Stdout, res)
			} else {
				lab.WriteRecord(os.Stdout, res)
			}
		}
		return err
	}
}

func defineLabMatrix(fs *pflag.FlagSet) runFunc {
	binaries := fs.String("binaries", "out/v1.37.2-unpatched-kube-apiserver/kube-apiserver,out/v1.37.2/hyperkube", "comma-separated binaries (hyperkube or kube-apiserver)")
	profiles := fs.String("profiles", "healthy,field,field-slow,no-localhost", "comma-separated profiles")
	lf := addLabFlags(fs)
	return func(ctx context.Context, e *env, args []string) error {
		var results []*lab.Result
		for _, b := range strings.Split(*binaries, ",") {
			if !filepath.IsAbs(b) {
				b = filepath.Join(e.root, b)
			}
			for _, p := range strings.Split(*profiles, ",") {
				o, err := lf.options(ctx, e, b, p)
				if err != nil {
					return err
				}
				res, err := lab.Run(ctx, o)
				if err != nil && res == nil {
					res = &lab.Result{Binary: b, Profile: p, Error: err.Error()}
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				results = append(results, res)
			}
		}
		if *lf.asJSON {
			return lab.WriteJSON(os.Stdout, results)
		}
		lab.WriteTable(os.Stdout, results)
		return nil
	}
}

func defineLabSoak(fs *pflag.FlagSet) runFunc {
	binary := fs.String("binary", "", "hyperkube or kube-apiserver to boot")
	profile := fs.String("profile", "field", "network profile (hk lab profiles)")
	boots := fs.Int("boots", 50, "power cycles: SIGKILL apiserver and etcd after each boot, restart on the same data")
	lf := addLabFlags(fs)
	return func(ctx context.Context, e *env, args []string) error {
		o, err := lf.options(ctx, e, *binary, *profile)
		if err != nil {
			return err
		}
		if *boots < 1 {
			return fmt.Errorf("--boots must be at least 1, got %d", *boots)
		}
		o.Boots = *boots
		if !fs.Changed("hold") {
			o.Hold = 5 * time.Second // run a little after ready, then cut the power
		}
		res, err := lab.Run(ctx, o)
		if res != nil {
			if *lf.asJSON {
				_ = lab.WriteJSON(os.Stdout, res)
			} else {
				lab.WriteSummary(os.Stdout, res)
			}
		}
		return err
	}
}

// labStorm starts several apiservers on one etcd together: an HA control plane after a power cut.
func defineLabStorm(fs *pflag.FlagSet) runFunc {
	binary := fs.String("binary", "", "hyperkube or kube-apiserver to boot")
	profile := fs.String("profile", "transient", "network profile (hk lab profiles)")
	apiservers := fs.Int("apiservers", 3, "how many apiservers to start together on one etcd")
	lf := addLabFlags(fs)
	return func(ctx context.Context, e *env, args []string) error {
		if *apiservers < 2 {
			return fmt.Errorf("--apiservers %d: a storm needs at least 2", *apiservers)
		}
		o, err := lf.options(ctx, e, *binary, *profile)
		if err != nil {
			return err
		}
		o.Apiservers = *apiservers
		res, err := lab.Run(ctx, o)
		if res != nil {
			if *lf.asJSON {
				_ = lab.WriteJSON(os.Stdout, res)
			} else {
				lab.WriteStorm(os.Stdout, res)
			}
		}
		return err
	}
}
