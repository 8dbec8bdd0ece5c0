package stages

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRecordAndTable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out", "stages", "record.json")
	reset := time.Date(2026, 12, 6, 16, 0, 0, 0, time.UTC)
	if err := Reset(p, []string{"unit-test", "lab-binaries", "integration-test", "kind-smoke", "bazel-test"}, reset); err != nil {
		t.Fatal(err)
	}
	want := []Stage{
		{Name: "unit-test", Start: 0, Seconds: 61.4, CPUSeconds: 100, CacheGrowth: 900 << 20},
		{Name: "lab-binaries", Start: 1, Seconds: 400, CPUSeconds: 790, CacheGrowth: 5000 << 20},
		{Name: "integration-test", Start: 401, Seconds: 600, CPUSeconds: 200, Exit: 1},
		{Name: "kind-smoke", Start: 1001, Exit: 1, Skipped: "needs integration-test, which did not pass"},
	}
	for _, s := range want {
		if err := Begin(p, s.Name, os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if err := Finish(p, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := Begin(p, "unit-test", os.Getpid()); err == nil {
		t.Error("a stage recorded twice in one run was accepted")
	}
	r, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, r.Stages); d != "" {
		t.Errorf("stages (-want +got):\n%s", d)
	}
	if !r.Reset.Equal(reset) || len(r.Running) != 0 {
		t.Errorf("reset %v, running %v", r.Reset, r.Running)
	}
	if d := cmp.Diff([]string{"integration-test", "kind-smoke", "bazel-test"}, r.Failed()); d != "" {
		t.Errorf("failed (-want +got):\n%s", d)
	}
	r.CPUs = 2
	var b strings.Builder
	Write(&b, r)
	for _, line := range []string{
		"unit-test                         0       61      100  built         944 MB  ok",
		"lab-binaries                      1      400      790  built        5243 MB  ok",
		"integration-test                401      600      200  cached          0 MB  failed (exit 1)",
		"kind-smoke                        -        -        -  -                  -  skipped: needs integration-test, which did not pass",
		"bazel-test                        -        -        -  -                  -  not run",
		"total                                   1001     1090  (16m41s wall clock; 2 CPUs give at most 2002 CPU s)",
		"3 of 5 stages did not pass: integration-test, kind-smoke, bazel-test",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("table lacks %q:\n%s", line, b.String())
		}
	}
	if r, _ := Load(filepath.Join(t.TempDir(), "none.json")); len(r.Stages) != 0 {
		t.Errorf("a missing record loaded as %v", r)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), make([]byte, 1000), 0o644)
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	os.WriteFile(filepath.Join(dir, "d", "b"), make([]byte, 24), 0o644)
	if n := DirSize(dir); n != 1024 {
		t.Errorf("DirSize = %d, want 1024", n)
	}
}

// Wait returns when every stage it waits for is recorded, and does not wait forever for one
// whose process died or that never began.
func TestWait(t *testing.T) {
	p := filepath.Join(t.TempDir(), "record.json")
	reset := time.Now()
	if err := Reset(p, []string{"build", "crashed", "forgotten", "proof"}, reset); err != nil {
		t.Fatal(err)
	}
	const deadPID = 4242
	Begin(p, "build", 1)
	Begin(p, "crashed", deadPID)
	alive := func(pid int) bool { return pid != deadPID }
	now := func() time.Time { return reset.Add(StartGrace + time.Second) }
	go func() {
		time.Sleep(50 * time.Millisecond)
		Finish(p, Stage{Name: "build", Seconds: 3})
	}()
	got, err := Wait(p, []string{"build", "crashed", "forgotten"}, 10*time.Millisecond, now, alive, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Stage{
		{Name: "build", Seconds: 3},
		{Name: "crashed", Exit: 1, Skipped: "its process ended without a result"},
		{Name: "forgotten", Exit: 1, Skipped: "it never started"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("waited (-want +got):\n%s", d)
	}

	// Within the grace a stage that has not begun is waited for; stop ends the wait.
	stop := make(chan struct{})
	close(stop)
	if _, err := Wait(p, []string{"proof"}, time.Millisecond, time.Now, alive, stop); err == nil {
		t.Error("Wait returned a stage that had not begun, within the grace")
	}
}
