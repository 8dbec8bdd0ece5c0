package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/etcdbuild"
	"github.com/hardened-hyperkube/hk/internal/lab"
	"github.com/hardened-hyperkube/hk/internal/versions"
)

func init() {
	subcommands["lab"] = subcommand{"boot etcd + kube-apiserver in a sandbox under a network profile (run, matrix, soak, profiles)", runLab}
	subcommands["etcd"] = subcommand{"build out/etcd/<version>/etcd at the version a release pins", runEtcd}
	for name, main := range lab.HiddenCommands {
		hiddenCommands[name] = main
	}
}

func runEtcd(ctx context.Context, e *env, args []string) error {
	fs := newFlags("etcd", "[--version V]")
	version := fs.String("version", "v1.37.2", "Kubernetes release whose pinned etcd to build")
	if err := parse(fs, args); err != nil {
		return err
	}
	pins, err := versions.Load(e.root, *version)
	if err != nil {
		return err
	}
	path, err := etcdbuild.Ensure(ctx, e.outDir(), pins.Etcd, e.logf)
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

func runLab(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: hk lab run|matrix|soak|storm|profiles [flags]")
		return errUsage
	}
	switch args[0] {
	case "run":
		return labRun(ctx, e, args[1:])
	case "matrix":
		return labMatrix(ctx, e, args[1:])
	case "soak":
		return labSoak(ctx, e, args[1:])
	case "storm":
		return labStorm(ctx, e, args[1:])
	case "profiles":
		for _, p := range lab.Profiles() {
			fmt.Printf("%-13s %s\n", p.Name, p.Description)
		}
		return nil
	}
	return fmt.Errorf("unknown lab command %q (run, matrix, soak, storm, profiles)", args[0])
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
	// Lifecycle events during a boot.
	termAfter, ipv6OffAfterReady *time.Duration
}

func addLabFlags(fs *flag.FlagSet) *labFlags {
	return &labFlags{
		version:  fs.String("version", "v1.37.2", "release whose pinned etcd version to use"),
		etcd:     fs.String("etcd", "", "etcd binary (default: built from the Go module proxy at the pinned version)"),
		deadline: fs.Duration("deadline", 150*time.Second, "how long to wait for /readyz"),
		hold:     fs.Duration("hold", 60*time.Second, "how long to keep watching after ready"),
		dnsBack:  fs.Duration("dns-back", lab.DefaultTransientDNSBack, "transient profile: when the nameservers start answering"),
		stall:    fs.Duration("etcd-stall", lab.DefaultEtcdStall, "etcd-stall profile: how long etcd stays frozen once the apiserver serves"),
		keep:     fs.Bool("keep", false, "keep the work directory (logs, certificates) for inspection"),
		asJSON:   fs.Bool("json", false, "print JSON"),
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
		if etcd, err = etcdbuild.Ensure(ctx, e.outDir(), pins.Etcd, e.logf); err != nil {
			return lab.Options{}, err
		}
	}
	if binary == "" {
		return lab.Options{}, errors.New("--binary is required (e.g. out/v1.37.2/hyperkube)")
	}
	return lab.Options{Binary: binary, Etcd: etcd, Profile: p, Deadline: *f.deadline, Hold: *f.hold,
		TermAfter: *f.termAfter, IPv6OffAfterReady: *f.ipv6OffAfterReady, Keep: *f.keep, Log: e.logf}, nil
}

func labRun(ctx context.Context, e *env, args []string) error {
	fs := newFlags("lab run", "--binary PATH --profile NAME [flags]")
	binary := fs.String("binary", "", "hyperkube or kube-apiserver to boot")
	profile := fs.String("profile", "field", "network profile (hk lab profiles)")
	lf := addLabFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
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

func labMatrix(ctx context.Context, e *env, args []string) error {
	fs := newFlags("lab matrix", "--binaries A,B --profiles X,Y [flags]")
	binaries := fs.String("binaries", "out/v1.37.2-unpatched-kube-apiserver/kube-apiserver,out/v1.37.2/hyperkube", "comma-separated binaries (hyperkube or kube-apiserver)")
	profiles := fs.String("profiles", "healthy,field,field-slow,no-localhost", "comma-separated profiles")
	lf := addLabFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
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

func labSoak(ctx context.Context, e *env, args []string) error {
	fs := newFlags("lab soak", "--binary PATH --profile NAME --boots N [flags]")
	binary := fs.String("binary", "", "hyperkube or kube-apiserver to boot")
	profile := fs.String("profile", "field", "network profile (hk lab profiles)")
	boots := fs.Int("boots", 50, "power cycles: SIGKILL apiserver and etcd after each boot, restart on the same data")
	lf := addLabFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	o, err := lf.options(ctx, e, *binary, *profile)
	if err != nil {
		return err
	}
	if *boots < 1 {
		return fmt.Errorf("--boots must be at least 1, got %d", *boots)
	}
	o.Boots = *boots
	if !flagSet(fs, "hold") {
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

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// labStorm starts several apiservers on one etcd together: an HA control plane after a power cut.
func labStorm(ctx context.Context, e *env, args []string) error {
	fs := newFlags("lab storm", "--binary PATH --profile NAME [--apiservers N] [flags]")
	binary := fs.String("binary", "", "hyperkube or kube-apiserver to boot")
	profile := fs.String("profile", "transient", "network profile (hk lab profiles)")
	apiservers := fs.Int("apiservers", 3, "how many apiservers to start together on one etcd")
	lf := addLabFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
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
