package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// every command of the tree, root first.
func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommands(sub)...)
	}
	return out
}

// Every command and subcommand answers `hk <cmd> --help` and `hk help <cmd>` with its usage.
func TestEveryCommandHasHelp(t *testing.T) {
	root := rootCommand()
	for _, c := range allCommands(root) {
		path := strings.Fields(c.CommandPath())[1:]
		for _, args := range [][]string{append(append([]string{}, path...), "--help"), append([]string{"help"}, path...)} {
			out, err := exec.Command(hkBinary, args...).CombinedOutput()
			if err != nil {
				t.Errorf("hk %s: %v\n%s", strings.Join(args, " "), err, out)
				continue
			}
			if !strings.Contains(string(out), "Usage:") || !strings.Contains(string(out), c.Short) {
				t.Errorf("hk %s printed no usage of %q:\n%s", strings.Join(args, " "), c.CommandPath(), out)
			}
		}
	}
}

// A flag has one spelling and one meaning everywhere: the same name takes the same kind of value.
func TestFlagsMeanTheSameEverywhere(t *testing.T) {
	kinds := map[string]string{}
	where := map[string]string{}
	for _, c := range allCommands(rootCommand()) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if k, ok := kinds[f.Name]; ok && k != f.Value.Type() {
				t.Errorf("--%s is a %s in %q but a %s in %q", f.Name, f.Value.Type(), c.CommandPath(), k, where[f.Name])
			}
			kinds[f.Name], where[f.Name] = f.Value.Type(), c.CommandPath()
			if strings.Contains(f.Name, "_") || strings.ToLower(f.Name) != f.Name {
				t.Errorf("--%s in %q: flags are lower-case words joined by hyphens", f.Name, c.CommandPath())
			}
		})
	}
	for _, name := range []string{"version", "json", "patches"} {
		if _, ok := kinds[name]; !ok {
			t.Errorf("no command has --%s", name)
		}
	}
}

// Shell completion: the script, and the pinned releases offered for --version.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, err := exec.Command(hkBinary, "completion", shell).Output()
		if err != nil || !strings.Contains(string(out), "hk") {
			t.Errorf("hk completion %s: %v", shell, err)
		}
	}
	root := fakeRoot(t)
	cmd := exec.Command(hkBinary, "__complete", "build", "--version", "")
	cmd.Env = append(cmd.Environ(), "HK_ROOT="+root)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "v1.37.2\n") {
		t.Errorf("completing hk build --version offered:\n%s", out)
	}
}

// Mistakes in the command line are one line naming the command, and exit 2.
func TestUsageErrorsAreOneLine(t *testing.T) {
	root := fakeRoot(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--bogus"}, "hk build: unknown flag: --bogus"},
		{[]string{"lab", "bogus"}, `hk lab: unknown command "bogus" for "hk lab"`},
		{[]string{"pin"}, "hk pin: accepts 1 arg(s), received 0"},
		{[]string{"stage", "x"}, "hk stage: want NAME -- COMMAND"},
		{[]string{"export", "--version", "v1.37.2"}, "hk export: --to DIR is required"},
	} {
		stderr, code := hk(t, root, nil, tc.args...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("hk %s: exit %d, stderr %q; want exit 2 and one line starting %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
}
