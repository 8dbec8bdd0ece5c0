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
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hardened-hyperkube/hk/internal/privatedocker"
	"github.com/hardened-hyperkube/hk/internal/progress"
)

type subcommand struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

var subcommands = map[string]subcommand{}

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
	// hk --quiet <command> (or HK_QUIET=1): no progress, only results and errors.
	quiet := os.Getenv("HK_QUIET") == "1"
	if len(os.Args) > 1 && (os.Args[1] == "--quiet" || os.Args[1] == "-q") {
		quiet = true
		os.Args = append(os.Args[:1], os.Args[2:]...)
	}
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(2)
	}
	if hidden, ok := hiddenCommands[os.Args[1]]; ok {
		os.Exit(hidden(os.Args[2:]))
	}
	sc, ok := subcommands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "hk: unknown command %q (try hk help)\n", os.Args[1])
		os.Exit(2)
	}
	root, err := findRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "hk: %v\n", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := progress.New(os.Stderr, quiet, filepath.Join(root, "out", "progress", "history.json"))
	if err := sc.run(ctx, &env{root: root, start: time.Now(), progress: rep}, os.Args[2:]); err != nil {
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		var status exitStatus
		if errors.As(err, &status) {
			os.Exit(int(status))
		}
		// One line, whatever the error carries (some libraries' messages span several).
		fmt.Fprintf(os.Stderr, "hk %s: %s\n", os.Args[1], strings.Join(strings.Fields(err.Error()), " "))
		os.Exit(1)
	}
}

// hiddenCommands are entry points hk re-executes itself into (the lab's sandbox init); they
// do not look for the repository.
var hiddenCommands = map[string]func(args []string) int{}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: hk [--quiet] <command> [flags]\n\ncommands:\n")
	var names []string
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", n, subcommands[n].summary)
	}
}

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
