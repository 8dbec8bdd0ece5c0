package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// RunOptions configure Run.
type RunOptions struct {
	Suite      *Suite
	RepoList   string // KUBE_TEST_REPO_LIST (Images.RepoList)
	Kubeconfig string
	Kubectl    string // the kubectl the CLI tests run (our hyperkube answers to that name)
	NetNS      string // run inside this network namespace (the private Docker daemon's); "" here
	Tests      []Test // what to run: Suite.Tests for the whole suite
	ReportDir  string // parallel/ and serial/ are written under it, each as upstream's runners do
	Procs      int    // ginkgo processes of the parallel part
	Timeout    time.Duration
	Output     io.Writer // also gets each part's output (nil: only e2e.log)
	Log        func(string, ...any)
}

// Part is one ginkgo run.
type Part struct {
	Name     string        `json:"name"` // parallel or serial
	Dir      string        `json:"dir"`  // its e2e.log and junit_01.xml
	Tests    int           `json:"tests"`
	Took     time.Duration `json:"took"`
	ExitCode int           `json:"exitCode"`
}

// Report is a run's parts and its summary against the tests it was given.
type Report struct {
	Parts   []Part        `json:"parts"`
	Took    time.Duration `json:"took"`
	Summary Summary       `json:"summary"`
}

// Run runs the tests as upstream's runners do: ginkgo's processes in parallel over every test
// but the [Serial] ones, then the [Serial] ones in one process. Each part writes e2e.log (ginkgo's
// output) and junit_01.xml (the e2e framework's report) into its own directory; summary.json
// sums both up. A failing test is a result, not an error: Run fails only when a part leaves no
// report.
func Run(ctx context.Context, o RunOptions) (*Report, error) {
	var parallel, serial []Test
	for _, t := range o.Tests {
		if t.Serial() {
			serial = append(serial, t)
		} else {
			parallel = append(parallel, t)
		}
	}
	whole := len(o.Tests) == len(o.Suite.Tests)
	start := time.Now()
	rep := &Report{}
	var results [][]Result
	for _, p := range []struct {
		name  string
		tests []Test
		procs int
		focus string
		skip  string
	}{
		// The whole suite is selected as upstream's runners select it; a sample by its names.
		{"parallel", parallel, o.Procs, pick(whole, `\[Conformance\]`, Focus(parallel)), `\[Serial\]`},
		{"serial", serial, 1, pick(whole, `\[Serial\].*\[Conformance\]|\[Conformance\].*\[Serial\]`, Focus(serial)), ""},
	} {
		if len(p.tests) == 0 {
			continue
		}
		part, res, err := runPart(ctx, o, p.name, p.procs, p.focus, p.skip)
		part.Tests = len(p.tests)
		rep.Parts = append(rep.Parts, part)
		if err != nil {
			return rep, err
		}
		o.Log("conformance %s part: %d tests, exit %d, %v", p.name, len(p.tests), part.ExitCode, part.Took.Round(time.Second))
		results = append(results, res)
	}
	rep.Took = time.Since(start)
	rep.Summary = Summarize(o.Tests, results...)
	data, _ := json.MarshalIndent(rep, "", "  ")
	return rep, os.WriteFile(filepath.Join(o.ReportDir, "summary.json"), data, 0o644)
}

func pick(whole bool, all, some string) string {
	if whole {
		return all
	}
	return some
}

func runPart(ctx context.Context, o RunOptions, name string, procs int, focus, skip string) (Part, []Result, error) {
	dir := filepath.Join(o.ReportDir, name)
	part := Part{Name: name, Dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return part, nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "e2e.log"))
	if err != nil {
		return part, nil, err
	}
	defer logFile.Close()
	// ginkgo's flags, then e2e.test's: hack/ginkgo-e2e.sh's form, as kind's and upstream's
	// conformance runners call it.
	args := []string{o.Suite.Ginkgo, fmt.Sprintf("--procs=%d", procs), "--focus=" + focus, "--no-color", "-v",
		"--timeout=" + o.Timeout.String()}
	if skip != "" {
		args = append(args, "--skip="+skip)
	}
	args = append(args, o.Suite.E2E, "--",
		"--kubeconfig="+o.Kubeconfig, "--provider=skeleton", "--report-dir="+dir, "--disable-log-dump=true",
		"--repo-root="+o.Suite.Dir, "--kubectl-path="+o.Kubectl)
	if o.NetNS != "" {
		args = append([]string{"ip", "netns", "exec", o.NetNS}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "KUBE_TEST_REPO_LIST="+o.RepoList, "KUBECONFIG="+o.Kubeconfig)
	cmd.Dir = dir
	var w io.Writer = logFile
	if o.Output != nil {
		w = io.MultiWriter(logFile, o.Output)
	}
	cmd.Stdout, cmd.Stderr = w, w
	o.Log("conformance %s part: ginkgo --procs=%d (log: %s)", name, procs, logFile.Name())
	start := time.Now()
	err = cmd.Run()
	part.Took = time.Since(start)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		part.ExitCode, err = exit.ExitCode(), nil
	}
	if err != nil {
		return part, nil, fmt.Errorf("conformance %s part: %w", name, err)
	}
	res, err := ReadJUnit(filepath.Join(dir, "junit_01.xml"))
	if err != nil {
		return part, nil, fmt.Errorf("conformance %s part left no report (exit %d; see %s): %w", name, part.ExitCode, logFile.Name(), err)
	}
	return part, res, nil
}
