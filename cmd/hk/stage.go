package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hardened-hyperkube/hk/internal/command"
	"github.com/hardened-hyperkube/hk/internal/stages"
)

func init() {
	subcommands["stage"] = subcommand{"time a stage of make test (NAME -- CMD…), --reset the record, or print it as a --table", runStage}
}

func runStage(ctx context.Context, e *env, args []string) error {
	fs := newFlags("stage", "--reset | --table | NAME -- COMMAND [ARGS…]")
	reset := fs.Bool("reset", false, "forget the stages recorded so far")
	table := fs.Bool("table", false, "print the stages recorded so far and their total")
	if err := parse(fs, args); err != nil {
		return err
	}
	record := filepath.Join(e.outDir(), "test-stages.json")
	switch {
	case *reset:
		if err := os.Remove(record); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	case *table:
		all, err := stages.Load(record)
		if err != nil {
			return err
		}
		stages.Write(os.Stdout, all)
		return nil
	}
	rest := fs.Args()
	if len(rest) < 3 || rest[1] != "--" {
		fs.Usage()
		return errUsage
	}
	name, argv := rest[0], rest[2:]
	gocache, err := command.New("go", "env", "GOCACHE").Output(ctx)
	if err != nil {
		return err
	}
	before := stages.DirSize(gocache)
	start := time.Now()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	runErr := cmd.Run()
	exit := 0
	var ee *exec.ExitError
	switch {
	case errors.As(runErr, &ee):
		exit = ee.ExitCode()
	case runErr != nil:
		return runErr
	}
	s := stages.Stage{Name: name, Seconds: time.Since(start).Seconds(), Exit: exit, CacheGrowth: stages.DirSize(gocache) - before}
	if err := stages.Append(record, s); err != nil {
		return err
	}
	if exit != 0 {
		// The table so far, so a failed run's log still shows the budget.
		all, _ := stages.Load(record)
		stages.Write(os.Stderr, all)
		return exitStatus(exit)
	}
	fmt.Fprintf(os.Stderr, "stage %s: %.0f s, %s (the Go build cache grew %.0f MB)\n", name, s.Seconds, stages.Kind(s.CacheGrowth), float64(s.CacheGrowth)/1e6)
	return nil
}
