package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/hardened-hyperkube/hk/internal/kind/kindnode"
	"github.com/hardened-hyperkube/hk/internal/kind/kindprobe"
	"github.com/hardened-hyperkube/hk/internal/kind/privatedocker"
	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/proof/lab"
	"github.com/hardened-hyperkube/hk/internal/source/series"
	"github.com/spf13/pflag"
)

func init() {
	register(group("kind", "kind clusters of our build: the private Docker daemon, node images, the engine probe",
		leaf("daemon", "run the private Docker daemon until Ctrl-C (prints DOCKER_HOST)", defineKindDaemon),
		leaf("node-image", "build the offline kind node image of a release (a drop-in for kindest/node)", defineKindNodeImage),
		leaf("probe", "record what this Docker engine allows of what kind needs", defineKindProbe)))
	hiddenCommands[kindprobe.InsideCommand] = func([]string) int { return kindprobe.Inside(os.Stdout) }
}

func defineKindProbe(fs *pflag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print JSON")
	return func(ctx context.Context, e *env, args []string) error {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		// The probe image holds this binary only, so it must be static (make hk builds it so).
		r, err := kindprobe.Run(ctx, self, e.logf)
		if err != nil {
			return err
		}
		if *asJSON {
			return lab.WriteJSON(os.Stdout, r)
		}
		keys := make([]string, 0, len(r.Engine))
		for k := range r.Engine {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf("%-20s %s\n", k+":", r.Engine[k])
		}
		fmt.Println()
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CHECK\tOK\tDETAIL")
		for _, c := range r.Checks {
			fmt.Fprintf(tw, "%s\t%v\t%s\n", c.Name, c.OK, c.Detail)
		}
		tw.Flush()
		if r.Blocker != "" {
			fmt.Printf("\nblocked: %s\n", r.Blocker)
		}
		return nil
	}
}

// privateDockerDir is where the private daemon keeps its socket, data root and logs.
// $HK_PRIVATE_DOCKER_DIR moves it (tests use a directory of their own).
func (e *env) privateDockerDir() string {
	if d := os.Getenv("HK_PRIVATE_DOCKER_DIR"); d != "" {
		return d
	}
	return filepath.Join(e.outDir(), "kind", "docker")
}

func startPrivateDocker(ctx context.Context, e *env) (*privatedocker.Daemon, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return privatedocker.Start(ctx, privatedocker.Options{Dir: e.privateDockerDir(), HK: self, Log: e.logf})
}

func defineKindDaemon(fs *pflag.FlagSet) runFunc {
	return func(ctx context.Context, e *env, args []string) error {
		d, err := startPrivateDocker(ctx, e)
		if err != nil {
			return err
		}
		defer d.Stop()
		fmt.Printf("export DOCKER_HOST=%s\n", d.Host)
		e.logf("private docker: Ctrl-C stops it and removes its containers")
		<-ctx.Done()
		return d.Stop()
	}
}

// kindDocker returns the docker CLI the kind commands use: the host's Docker when it can run
// kind's --privileged nodes, otherwise the private daemon (started here; stop it when done).
func kindDocker(ctx context.Context, e *env, which string) (docker func(...string) *command.Cmd, stop func() error, err error) {
	if which == "auto" {
		which = "host"
		if bnd, err := privatedocker.BoundingSet(); err == nil && len(privatedocker.MissingCapabilities(bnd)) > 0 {
			which = "private" // the host's Docker, on this machine, cannot grant them either
		}
	}
	switch which {
	case "host":
		return func(args ...string) *command.Cmd { return command.New("docker", args...) }, func() error { return nil }, nil
	case "private":
		// Started on first use, so builds before it do not hold the daemon.
		var d *privatedocker.Daemon
		var startErr error
		var once sync.Once
		docker = func(args ...string) *command.Cmd {
			once.Do(func() { d, startErr = startPrivateDocker(ctx, e) })
			if startErr != nil {
				return command.New("false") // the start error is returned by stop
			}
			return d.Docker(args...)
		}
		stop = func() error {
			if startErr != nil {
				return startErr
			}
			if d != nil {
				return d.Stop()
			}
			return nil
		}
		return docker, stop, nil
	}
	return nil, nil, fmt.Errorf("--docker %q: want auto, host or private", which)
}

func defineKindNodeImage(fs *pflag.FlagSet) runFunc {
	version := fs.String("version", "", "Kubernetes release, e.g. v1.37.2")
	patches := fs.String("patches", series.All, "patch selection: all, none or numbers")
	which := fs.String("docker", "auto", "daemon that receives the image: host, private, or auto (private when this machine lacks a capability kind's nodes need)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	return func(ctx context.Context, e *env, args []string) error {
		if *version == "" {
			return fmt.Errorf("--version is required")
		}
		docker, stop, err := kindDocker(ctx, e, *which)
		if err != nil {
			return err
		}
		defer stop()
		r, err := kindnode.Build(ctx, kindnode.Options{Root: e.root, Version: *version, Selection: *patches,
			OutDir: e.outDir(), CacheDir: e.cacheDir(), BaseCacheDir: filepath.Join(e.machineCacheDir(), "kind"), Docker: docker, Log: e.logf})
		if err != nil {
			if serr := stop(); serr != nil {
				return serr // the daemon did not start: that is the error to show
			}
			return err
		}
		if err := stop(); err != nil {
			return err
		}
		if *asJSON {
			return lab.WriteJSON(os.Stdout, r)
		}
		fmt.Printf("%s\t%s\t%.0f MB\t%s\n", r.Image, r.ID[:19], float64(r.SizeBytes)/1e6, r.Elapsed.Round(time.Second))
		return nil
	}
}
