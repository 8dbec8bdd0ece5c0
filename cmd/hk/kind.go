package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"

	"github.com/hardened-hyperkube/hk/internal/kindprobe"
	"github.com/hardened-hyperkube/hk/internal/lab"
)

func init() {
	subcommands["kind"] = subcommand{"kind probe: record what this Docker engine allows of what kind needs", runKind}
	hiddenCommands[kindprobe.InsideCommand] = func([]string) int { return kindprobe.Inside(os.Stdout) }
}

func runKind(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "probe" {
		fmt.Fprintln(os.Stderr, "usage: hk kind probe [--json]")
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
