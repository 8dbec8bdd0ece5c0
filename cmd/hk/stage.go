package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/filelock"
	"github.com/hardened-hyperkube/hk/internal/plumbing/stages"
	"github.com/spf13/pflag"
)

func init() {
	register(leaf("stage NAME -- COMMAND [ARGS…] | --reset [--plan A,B,…] | --table", "run and time a stage of make test (NAME -- CMD…), after others; --reset the record, or print it as a --table", defineStage))
}

func defineStage(fs *pflag.FlagSet) runFunc {
	reset := fs.Bool("reset", false, "forget the stages recorded so far and start the clock")
	plan := fs.String("plan", "", "with --reset: the stages the job will run, in the table's order")
	table := fs.Bool("table", false, "print the stages recorded so far; exit 1 if one failed, was skipped or did not run")
	after := fs.String("after", "", "start when these stages have finished, whatever their result (keeps heavy builds one at a time)")
	needs := fs.String("needs", "", "start when these stages have finished; skip this one if any of them did not pass")
	nice := fs.Int("nice", 0, "run the command at this niceness, so it gives way to the stages beside it")
	fs.SetInterspersed(false) // NAME -- COMMAND: what follows NAME is the command's, not ours
	return func(ctx context.Context, e *env, args []string) error {
		dir := filepath.Join(e.outDir(), "stages")
		record := filepath.Join(dir, "record.json")
		switch {
		case *reset:
			return stages.Reset(record, splitList(*plan), time.Now())
		case *table:
			r, err := stages.Load(record)
			if err != nil {
				return err
			}
			stages.Write(os.Stdout, r)
			if len(r.Failed()) > 0 {
				return exitStatus(1)
			}
			return nil
		}
		rest := args
		if len(rest) < 3 || rest[1] != "--" {
			return usageError{errors.New("want NAME -- COMMAND [ARGS…]")}
		}
		s := stageRun{name: rest[0], argv: rest[2:], after: splitList(*after), needs: splitList(*needs), nice: *nice, dir: dir, record: record}
		if err := s.check(); err != nil {
			return err
		}
		return s.run(ctx)
	}
}

// stageRun is one stage: its command, what it waits for, where it records and logs.
type stageRun struct {
	name         string
	argv         []string
	after, needs []string
	nice         int
	dir, record  string
}

// check refuses a name that cannot be a log file and, when the job declared its plan, a stage or
// a dependency the plan does not name: waiting for a stage nobody runs would never end.
func (s stageRun) check() error {
	if s.name == "" || strings.ContainsAny(s.name, "/ ") {
		return fmt.Errorf("bad stage name %q", s.name)
	}
	r, err := stages.Load(s.record)
	if err != nil {
		return err
	}
	if len(r.Plan) == 0 {
		return nil
	}
	for _, n := range append(append([]string{s.name}, s.after...), s.needs...) {
		if !slices.Contains(r.Plan, n) {
			return fmt.Errorf("stage %s is not in this run's plan (%s)", n, strings.Join(r.Plan, ", "))
		}
	}
	return nil
}

func (s stageRun) run(ctx context.Context) error {
	if err := stages.Begin(s.record, s.name, os.Getpid()); err != nil {
		return err
	}
	r, err := stages.Load(s.record)
	if err != nil {
		return err
	}
	if wait := append(slices.Clone(s.after), s.needs...); len(wait) > 0 {
		fmt.Fprintf(os.Stderr, "stage %s: waiting for %s\n", s.name, strings.Join(wait, ", "))
		done, err := stages.Wait(s.record, wait, 2*time.Second, time.Now, processAlive, ctx.Done())
		if err != nil {
			exit := 1
			if ctx.Err() != nil {
				exit = 130
			}
			return s.finish(stages.Stage{Name: s.name, Start: r.Since(time.Now()), Exit: exit, Skipped: err.Error()}, "")
		}
		for _, d := range done {
			if slices.Contains(s.needs, d.Name) && !d.OK() {
				return s.finish(stages.Stage{Name: s.name, Start: r.Since(time.Now()), Exit: 1, Skipped: "needs " + d.Name + ", which did not pass"}, "")
			}
		}
	}
	logPath := filepath.Join(s.dir, s.name+".log")
	st, err := s.execute(ctx, r, logPath)
	if err != nil { // the command did not run: say why in the record, not only here
		return s.finish(stages.Stage{Name: s.name, Start: r.Since(time.Now()), Exit: 1, Skipped: "could not run: " + err.Error()}, "")
	}
	return s.finish(st, logPath)
}

// execute runs the command with its output in logPath and measures it; the error says why it
// could not run at all.
func (s stageRun) execute(ctx context.Context, r *stages.Record, logPath string) (stages.Stage, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return stages.Stage{}, err
	}
	defer logFile.Close()
	gocache, err := command.New("go", "env", "GOCACHE").Output(ctx)
	if err != nil {
		return stages.Stage{}, err
	}
	before := stages.DirSize(gocache)
	argv := s.argv
	if s.nice != 0 {
		argv = append([]string{"nice", "-n", strconv.Itoa(s.nice)}, argv...)
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "stage %s: started at %.0f s (%s; output in %s)\n", s.name, r.Since(start), strings.Join(s.argv, " "), logPath)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return stages.Stage{}, err
	}
	// On Ctrl-C the whole process group has the signal already; a signal to hk alone is passed
	// on, and the command is waited for either way, so its cleanup (namespaces, daemons) runs.
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var runErr error
	select {
	case runErr = <-waited:
	case <-ctx.Done():
		cmd.Process.Signal(os.Interrupt)
		runErr = <-waited
	}
	st := stages.Stage{Name: s.name, Start: r.Since(start), Seconds: time.Since(start).Seconds(), CacheGrowth: stages.DirSize(gocache) - before}
	var ee *exec.ExitError
	switch {
	case errors.As(runErr, &ee):
		st.Exit = ee.ExitCode()
		if st.Exit < 0 { // killed by a signal
			st.Exit = 128
		}
	case runErr != nil:
		return stages.Stage{}, runErr
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		st.CPUSeconds = time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime)).Seconds()
	}
	return st, nil
}

// finish records st and prints the stage's output as one block, so the output of stages that ran
// at once does not interleave.
func (s stageRun) finish(st stages.Stage, logPath string) error {
	if err := stages.Finish(s.record, st); err != nil {
		return err
	}
	var summary string
	switch {
	case st.Skipped != "":
		summary = "skipped: " + st.Skipped
	case st.Exit != 0:
		summary = fmt.Sprintf("failed (exit %d) after %.0f s", st.Exit, st.Seconds)
	default:
		summary = fmt.Sprintf("%.0f s, %.0f CPU s, %s (the Go build cache grew %.0f MB)", st.Seconds, st.CPUSeconds, stages.Kind(st.CacheGrowth), float64(st.CacheGrowth)/1e6)
	}
	unlock, err := filelock.Lock(filepath.Join(s.dir, "output.lock"), nil)
	if err != nil {
		return err
	}
	defer unlock()
	if logPath != "" {
		fmt.Printf("==> stage %s: %s\n", s.name, strings.Join(s.argv, " "))
		if f, err := os.Open(logPath); err == nil {
			io.Copy(os.Stdout, f)
			f.Close()
		}
		fmt.Printf("<== stage %s\n", s.name)
	}
	fmt.Fprintf(os.Stderr, "stage %s: %s\n", s.name, summary)
	if !st.OK() {
		return exitStatus(max(st.Exit, 1))
	}
	return nil
}

// processAlive reports whether pid is a running process (a zombie counts as gone).
func processAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state …: the state follows the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	return i > 0 && i+2 < len(data) && data[i+2] != 'Z'
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
