package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/hardened-hyperkube/hk/internal/proof/resolveprobe"
)

func init() {
	hiddenCommands[resolveprobe.Command] = runResolveProbe
}

// runResolveProbe runs inside a container whose resolv.conf names --nameserver; it prints the
// report as JSON.
func runResolveProbe(args []string) int {
	fs := flag.NewFlagSet(resolveprobe.Command, flag.ContinueOnError)
	nameserver := fs.String("nameserver", "127.0.0.53", "address resolv.conf names; a blackhole is served there")
	timeout := fs.Duration("timeout", 15*time.Second, "give up resolving after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	r, err := resolveprobe.Run(context.Background(), []string{*nameserver}, 0, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 1
	}
	return 0
}
