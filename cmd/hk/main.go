// Command hk builds, patches and proves the hardened hyperkube. Each subcommand parses its flags,
// calls one internal package and prints; errors are one line on stderr and a non-zero exit.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardened-hyperkube/hk/internal/kind/privatedocker"
	"github.com/hardened-hyperkube/hk/internal/plumbing/progress"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
)

// runFunc is a command's work, once its flags are parsed: args are the positional arguments.
type runFunc func(ctx context.Context, e *env, args []string) error

// commands are hk's top-level commands; each file registers its own in init.
var commands []*cobra.Command

func register(cs ...*cobra.Command) { commands = append(commands, cs...) }

// leaf makes a command whose flags define declares and whose work define returns. use is the
// name and the synopsis of its arguments; help comes from the flags.
func leaf(use, short string, define func(fs *pflag.FlagSet) runFunc) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short}
	run := define(c.Flags())
	c.RunE = func(c *cobra.Command, args []string) error { return runInRepository(c, args, run) }
	if c.Flags().Lookup("version") != nil {
		_ = c.RegisterFlagCompletionFunc("version", completeVersions)
	}
	return c
}

// completeVersions offers the releases pinned in build/versions for --version.
func completeVersions(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	root, err := findRoot()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return versions.Known(root), cobra.ShellCompDirectiveNoFileComp
}

// group makes a command that holds others (hk lab, hk kind, …): alone, it prints its help and
// fails as a usage error.
func group(name, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: name, Short: short, Args: cobra.NoArgs, RunE: func(c *cobra.Command, _ []string) error {
		c.HelpFunc()(c, nil)
		return errUsage
	}}
	c.AddCommand(subs...)
	return c
}

// runInRepository finds the repository, reports progress on stderr and runs the command's work.
func runInRepository(c *cobra.Command, args []string, run runFunc) error {
	root, err := findRoot()
	if err != nil {
		return err
	}
	quiet := os.Getenv("HK_QUIET") == "1" || quietFlag
	rep := progress.New(os.Stderr, quiet, filepath.Join(root, "out", "progress", "history.json"))
	return run(c.Context(), &env{root: root, start: time.Now(), progress: rep}, args)
}

// quietFlag is hk --quiet (or HK_QUIET=1): no progress, only results and errors.
var quietFlag bool

// env is what every subcommand needs to find the repository and report progress.
type env struct {
	root     string
	start    time.Time
	progress *progress.Reporter // stderr: a live line on a terminal, timestamped lines elsewhere
}

func (e *env) logf(format string, args ...any) { e.progress.Logf(format, args...) }

func (e *env) outDir() string   { return filepath.Join(e.root, "out") }
func (e *env) cacheDir() string { return filepath.Join(e.root, "out", "trees") }

// machineCacheDir keeps what outlives a checkout: results that take minutes, are keyed by their
// inputs and name no path of the clone (the kind node's Debian layer), so a fresh clone on a warm
// machine reuses them as the Go caches are reused. $HK_CACHE_DIR, else <user cache dir>/hk.
func (e *env) machineCacheDir() string {
	if d := os.Getenv("HK_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "hk")
	}
	return filepath.Join(e.outDir(), "cache")
}

// sharedBuilds keeps finished builds by inputs digest (build.Options.SharedDir); HK_SHARED_BUILDS=off
// builds into out/ only.
func (e *env) sharedBuilds() string {
	if os.Getenv("HK_SHARED_BUILDS") == "off" {
		return ""
	}
	return filepath.Join(e.machineCacheDir(), "builds")
}

// errUsage marks an error whose message is the usage text.
var errUsage = errors.New("usage")

// exitStatus is returned by a subcommand whose exit code carries a result (hk doctor's verdict)
// rather than an error.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	// Invoked through the private Docker daemon's runtime symlink: act as its OCI runtime.
	if filepath.Base(os.Args[0]) == privatedocker.RuntimeName {
		os.Exit(privatedocker.RunRuntime(os.Args[1:]))
	}
	if len(os.Args) > 1 {
		if hidden, ok := hiddenCommands[os.Args[1]]; ok {
			os.Exit(hidden(os.Args[2:]))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(execute(ctx, rootCommand(), os.Args[1:]))
}

// rootCommand is hk's command tree.
func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "hk",
		Short: "hk builds, patches and proves the hardened hyperkube",
		// Errors are printed once, as one line, by execute; usage only on request.
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			c.HelpFunc()(c, nil)
			return errUsage
		},
	}
	root.PersistentFlags().BoolVarP(&quietFlag, "quiet", "q", false, "no progress lines, only results and errors (or HK_QUIET=1)")
	root.AddCommand(commands...)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	return root
}

// usageError is a mistake in the command line: exit 2, as before the command runs.
type usageError struct{ error }

// execute runs the command line and returns the exit code: 0, the code a command's result
// carries (hk doctor's verdict), 2 for a usage error, 1 for any other error, which is printed
// as one line naming the command.
func execute(ctx context.Context, root *cobra.Command, args []string) int {
	root.SetArgs(args)
	c, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var status exitStatus
	if errors.As(err, &status) {
		return int(status)
	}
	name := "hk"
	if c != nil {
		name = c.CommandPath()
	}
	// One line, whatever the error carries (some libraries' messages span several).
	line := strings.Join(strings.Fields(err.Error()), " ")
	switch {
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, new(usageError)) || strings.HasPrefix(line, "unknown command") || strings.HasPrefix(line, "accepts ") || strings.HasPrefix(line, "invalid argument"):
		fmt.Fprintf(os.Stderr, "%s: %s (see %s --help)\n", name, line, name)
		return 2
	}
	fmt.Fprintf(os.Stderr, "%s: %s\n", name, line)
	return 1
}

// hiddenCommands are entry points hk re-executes itself into (the lab's sandbox init); they
// do not look for the repository.
var hiddenCommands = map[string]func(args []string) int{}

// findRoot returns $HK_ROOT or the nearest parent of the working directory holding build/versions.
func findRoot() (string, error) {
	if r := os.Getenv("HK_ROOT"); r != "" {
		return filepath.Abs(r)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "build", "versions")); err == nil && st.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the hk repository (no build/versions above the working directory; set HK_ROOT)")
		}
		dir = parent
	}
}
