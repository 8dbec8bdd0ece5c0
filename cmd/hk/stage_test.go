package main

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hardened-hyperkube/hk/internal/plumbing/stages"
)

// Stages started together run in the order --after and --needs give, a failure skips the stages
// that need it but not those that only come after it, and each stage's output is one block.
func TestStagesRunInOrderAndSkipWhatNeedsAFailure(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "build"), 0o755)
	os.Mkdir(filepath.Join(root, "build", "versions"), 0o755)
	marks := filepath.Join(root, "marks")
	if _, code := hk(t, root, nil, "stage", "--reset", "--plan", "build-a,build-b,proof-a,proof-b"); code != 0 {
		t.Fatal("reset failed")
	}
	// Each command appends its name to marks; build-a fails.
	step := func(name string, fail bool) []string {
		script := "sleep 0.3; echo " + name + " >> " + marks + "; echo output of " + name
		if fail {
			script += "; exit 3"
		}
		return []string{"sh", "-c", script}
	}
	runs := map[string][]string{
		"build-a": append([]string{"stage", "--nice", "5", "build-a", "--"}, step("build-a", true)...),
		"build-b": append([]string{"stage", "--after", "build-a", "build-b", "--"}, step("build-b", false)...),
		"proof-a": append([]string{"stage", "--needs", "build-a", "proof-a", "--"}, step("proof-a", false)...),
		"proof-b": append([]string{"stage", "--needs", "build-b", "proof-b", "--"}, step("proof-b", false)...),
	}
	codes := map[string]int{}
	stdout := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, args := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(hkBinary, args...)
			cmd.Env = append(os.Environ(), "HK_ROOT="+root)
			var out bytes.Buffer
			cmd.Stdout = &out
			err := cmd.Run()
			mu.Lock()
			defer mu.Unlock()
			stdout[name] = out.String()
			if ee, ok := err.(*exec.ExitError); ok {
				codes[name] = ee.ExitCode()
			}
		}()
	}
	wg.Wait()
	if d := map[string]int{"build-a": 3, "proof-a": 1}; !maps.Equal(codes, d) {
		t.Errorf("exit codes %v, want %v", codes, d)
	}
	data, _ := os.ReadFile(marks)
	if got := strings.Fields(string(data)); strings.Join(got, " ") != "build-a build-b proof-b" {
		t.Errorf("ran %v, want build-a, build-b, proof-b in that order", got)
	}
	if want := "==> stage build-b: sh -c"; !strings.HasPrefix(stdout["build-b"], want) || !strings.Contains(stdout["build-b"], "output of build-b\n<== stage build-b\n") {
		t.Errorf("build-b's output is not one block:\n%s", stdout["build-b"])
	}
	r, err := stages.Load(filepath.Join(root, "out", "stages", "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := r.Find("proof-a"); s.Skipped != "needs build-a, which did not pass" {
		t.Errorf("proof-a recorded as %+v", s)
	}
	if a, _ := r.Find("build-a"); a.Exit != 3 || a.Seconds < 0.3 {
		t.Errorf("build-a recorded as %+v", a)
	}
	if b, _ := r.Find("build-b"); !b.OK() {
		t.Errorf("build-b recorded as %+v", b)
	}
	stderr, code := hk(t, root, nil, "stage", "--table")
	if code != 1 {
		t.Errorf("--table exit %d with a failed stage, want 1 (%s)", code, stderr)
	}

	// A stage the plan does not name is refused at once: nobody would ever record it.
	stderr, code = hk(t, root, nil, "stage", "--after", "build-c", "proof-c", "--", "true")
	if code == 0 || !strings.Contains(stderr, "stage proof-c is not in this run's plan") {
		t.Errorf("an unplanned stage: exit %d, %s", code, stderr)
	}
}

// A command that cannot start is recorded as not run, with the reason, so the stages waiting for
// it see a result instead of a process that vanished.
func TestStageThatCannotRunIsRecorded(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "build", "versions"), 0o755)
	if _, code := hk(t, root, nil, "stage", "--reset", "--plan", "broken"); code != 0 {
		t.Fatal("reset failed")
	}
	stderr, code := hk(t, root, nil, "stage", "broken", "--", filepath.Join(root, "no-such-program"))
	if code != 1 || !strings.Contains(stderr, "stage broken: skipped: could not run: ") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	r, err := stages.Load(filepath.Join(root, "out", "stages", "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := r.Find("broken"); !ok || s.OK() || len(r.Running) != 0 {
		t.Errorf("recorded %+v (found %v), running %v", s, ok, r.Running)
	}
}
