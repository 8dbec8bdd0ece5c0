package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/publish/follow"
	"github.com/hardened-hyperkube/hk/internal/source/versions"
	"github.com/spf13/pflag"
)

func init() {
	register(leaf("follow", "move each release line to upstream's newest patch release: pin, carry the series (git am -3), prove, release, commit on a branch", defineFollow))
}

func defineFollow(fs *pflag.FlagSet) runFunc {
	lines := fs.StringSlice("line", nil, "release lines to follow, like v1.36 (default: every line with pins and a series)")
	to := fs.String("to", "", "with one --line: move to this release instead of the newest served (also back, to set up a line)")
	cont := fs.Bool("continue", false, "take up a follow a conflict stopped, once its worktree's git am is finished (see its NEXT-STEPS.md)")
	check := fs.Bool("check", false, "only print what each line could move to (asks the proxy; writes nothing)")
	noProofs := fs.Bool("no-proofs", false, "commit the carried series without running the line's proofs and release")
	key := fs.String("key", "", "release signing key (default: out/keys/release.key of this checkout, made if missing)")
	arches := fs.String("arch", "amd64,arm64", "architectures of the release")
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) != 0 {
			return usageError{errors.New("takes no arguments (name lines with --line)")}
		}
		for _, l := range *lines {
			if !strings.HasPrefix(l, "v1.") || strings.Count(l, ".") != 1 {
				return usageError{fmt.Errorf("--line %q: want a minor like v1.36", l)}
			}
		}
		if *to != "" {
			if _, err := versions.Minor(*to); err != nil {
				return usageError{fmt.Errorf("--to: %w", err)}
			}
		}
		signingKey := *key
		if signingKey == "" {
			signingKey = filepath.Join(e.outDir(), "keys", "release.key")
		}
		signingKey, _ = filepath.Abs(signingKey)
		o := follow.Options{
			Root: e.root, Lines: *lines, To: *to, Continue: *cont, Check: *check,
			CacheDir: e.cacheDir(), WorkDir: filepath.Join(e.outDir(), "follow"), Log: e.logf,
		}
		if !*noProofs {
			newest := newestLine(e.root)
			o.Proofs = func(version string) []follow.Proof { return lineProofs(version, newest, signingKey, *arches) }
		}
		start := time.Now()
		results, err := follow.Run(ctx, o)
		for _, r := range results {
			printFollow(r)
		}
		if err != nil {
			return err
		}
		fmt.Printf("took %s\n", time.Since(start).Round(time.Second))
		return nil
	}
}

// newestLine is the main line: the newest minor with pins; the others are backports.
func newestLine(root string) string {
	lines := follow.Lines(root)
	newest := ""
	for _, l := range lines {
		if newest == "" || minorNumber(l) > minorNumber(newest) {
			newest = l
		}
	}
	return newest
}

func minorNumber(line string) int {
	n := 0
	fmt.Sscanf(line, "v1.%d", &n)
	return n
}

// lineProofs are what make test and the release targets prove of a release, run in the follow's
// checkout: the whole hyperkube; the lab's proofs and upstream's tests of the series; the series
// against upstream under each outage with SIGTERM during it; the kind smoke where the hyperkube
// carries kubeadm (1.35 and later); the signed release, verified.
func lineProofs(version, mainLine, key, arches string) []follow.Proof {
	minor, _ := versions.Minor(version)
	proofs := []follow.Proof{
		{Name: "hk", Args: []string{"make", "--no-print-directory", "hk"}},
		{Name: "the whole hyperkube", Args: []string{"out/bin/hk", "build", "--version", version}},
	}
	if minor == mainLine {
		proofs = append(proofs, follow.Proof{Name: "the lab's proofs and upstream's tests of the series",
			Args: []string{"make", "--no-print-directory", "lab-binaries", "upstream-test", "lab-proofs", "VERSION=" + version}})
	} else {
		proofs = append(proofs, follow.Proof{Name: "the lab's proof and upstream's tests of the series",
			Args: []string{"make", "--no-print-directory", "backport-binaries-" + version, "upstream-test-" + version, "backport-proof-" + version}})
	}
	proofs = append(proofs, follow.Proof{Name: "upstream vs the series under each outage, SIGTERM during it",
		Args: []string{"out/bin/hk", "backports", "--sigterm", "20s", "--versions", version}})
	if minorNumber(minor) >= 35 {
		proofs = append(proofs, follow.Proof{Name: "the kind smoke (kubeadm, kubelet, a Service)",
			Args: []string{"make", "--no-print-directory", "kind-versions", "KIND_VERSIONS=" + version}})
	}
	return append(proofs,
		follow.Proof{Name: "the signing key", Args: []string{"out/bin/hk", "keygen", "--if-missing", key}},
		follow.Proof{Name: "the signed release", Args: []string{"out/bin/hk", "release", "--version", version, "--arch", arches, "--key", key}},
		follow.Proof{Name: "the release verified", Args: []string{"out/bin/hk", "verify", "out/release/" + version, "--key", key + ".pub"}},
	)
}

func printFollow(r *follow.LineResult) {
	notYet := ""
	if len(r.NotYet) > 0 {
		notYet = fmt.Sprintf(" (%s not yet: upstream is still publishing its modules)", strings.Join(r.NotYet, ", "))
	}
	if r.To == "" {
		fmt.Printf("%s: %s is the newest release served; nothing to follow%s\n", r.Line, r.From, notYet)
		return
	}
	if r.Branch == "" && len(r.Outcomes) == 0 {
		fmt.Printf("%s: %s → %s would follow%s\n", r.Line, r.From, r.To, notYet)
		return
	}
	fmt.Printf("%s: %s → %s%s\n", r.Line, r.From, r.To, notYet)
	for _, o := range r.Outcomes {
		fmt.Printf("  %s: %s\n", o.Patch.Name, o.How)
	}
	for _, p := range r.ProofTimes {
		fmt.Printf("  proof %s\n", p)
	}
	if r.Branch != "" {
		if _, err := os.Stat(r.Report); err == nil {
			fmt.Printf("  branch %s in %s\n  report %s\n", r.Branch, r.Checkout, r.Report)
		}
	}
}
