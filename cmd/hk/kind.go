package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"path/filepath"
	"text/tabwriter"

	"github.com/hardened-hyperkube/hk/internal/kindprobe"
	"github.com/hardened-hyperkube/hk/internal/lab"
	"github.com/hardened-hyperkube/hk/internal/privatedocker"
)

func init() {
	subcommands["kind"] = subcommand{"kind daemon|node-image|probe: kind clusters of our build (see hk kind -h)", runKind}
	hiddenCommands[kindprobe.InsideCommand] = func([]string) int { return kindprobe.Inside(os.Stdout) }
}

const kindUsage = `usage:
  hk kind daemon                 run the private Docker daemon until Ctrl-C (prints DOCKER_HOST)
  hk kind node-image --version V [--patches none] [--docker private|host]
  hk kind probe [--json]         record what this Docker engine allows of what kind needs`

func runKind(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, kindUsage)
		return errUsage
	}
	switch args[0] {
	case "daemon":
		return runKindDaemon(ctx, e, args[1:])
	case "node-image":
		return runKindNodeImage(ctx, e, args[1:])
	case "probe":
	default:
		fmt.Fprintln(os.Stderr, kindUsage)
		return errUsage
	}
	fs := newFlags("kind probe", "[--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
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

// privateDockerDir is where the private daemon keeps its socket, data root and logs.
func (e *env) privateDockerDir() string { return filepath.Join(e.outDir(), "kind", "docker") }

func startPrivateDocker(ctx context.Context, e *env) (*privatedocker.Daemon, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return privatedocker.Start(ctx, privatedocker.Options{Dir: e.privateDockerDir(), HK: self, Log: e.logf})
}

func runKindDaemon(ctx context.Context, e *env, args []string) error {
	fs := newFlags("kind daemon", "")
	if err := parse(fs, args); err != nil {
		return err
	}
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

func runKindNodeImage(ctx context.Context, e *env, args []string) error {
	return fmt.Errorf("not yet")
}
