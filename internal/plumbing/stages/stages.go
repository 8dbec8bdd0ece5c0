// Package stages times the stages of a long job (make test) and prints them as one table, so
// every CI log shows where the time went: when each stage started, how long it took, how much
// CPU it used and whether the Go build cache had to grow (a cold stage) or served it (a warm
// one). Stages may run at once: the record is shared under a file lock, and a stage can wait for
// others to finish before it starts (Wait).
package stages

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/plumbing/filelock"
)

// Stage is one finished (or skipped) stage.
type Stage struct {
	Name string `json:"name"`
	// Start is when it started, in seconds after the record was reset.
	Start   float64 `json:"start"`
	Seconds float64 `json:"seconds"`
	// CPUSeconds is the user and system time of the stage's command and the processes it
	// waited for.
	CPUSeconds float64 `json:"cpuSeconds"`
	Exit       int     `json:"exit"`
	// Skipped says why the stage did not run (a stage it needs failed); Exit is then 1.
	Skipped string `json:"skipped,omitempty"`
	// CacheGrowth is how many bytes the Go build cache grew by during the stage: near zero
	// when it served everything. Stages that ran beside it count too.
	CacheGrowth int64 `json:"cacheGrowth"`
}

// OK reports whether the stage ran and succeeded.
func (s Stage) OK() bool { return s.Exit == 0 && s.Skipped == "" }

// Record is what a job has recorded so far.
type Record struct {
	Reset time.Time `json:"reset"`
	// CPUs is how many the machine had, the bound on CPU seconds per second of wall clock.
	CPUs int `json:"cpus"`
	// Plan names the stages the job will run, in the table's order; empty when the job did not
	// say.
	Plan []string `json:"plan,omitempty"`
	// Running maps a stage that has started (or is waiting to) to the PID of the process that
	// will record it.
	Running map[string]int `json:"running,omitempty"`
	Stages  []Stage        `json:"stages"`
}

// Find returns the recorded stage called name.
func (r *Record) Find(name string) (Stage, bool) {
	for _, s := range r.Stages {
		if s.Name == name {
			return s, true
		}
	}
	return Stage{}, false
}

// Since is the offset of t from the reset, in seconds.
func (r *Record) Since(t time.Time) float64 { return t.Sub(r.Reset).Seconds() }

// Failed lists the planned or recorded stages that failed, were skipped or never ran.
func (r *Record) Failed() []string {
	var bad []string
	for _, name := range r.names() {
		if s, ok := r.Find(name); !ok || !s.OK() {
			bad = append(bad, name)
		}
	}
	return bad
}

// names is the plan followed by any recorded stage it does not name.
func (r *Record) names() []string {
	names := slices.Clone(r.Plan)
	for _, s := range r.Stages {
		if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	return names
}

// Load reads the record; a missing file is an empty record reset now.
func Load(path string) (*Record, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Record{Reset: time.Now(), CPUs: runtime.NumCPU()}, nil
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// update changes the record under its lock: stages running at once each read and write it.
func update(path string, change func(*Record) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	unlock, err := filelock.Lock(path+".lock", nil)
	if err != nil {
		return err
	}
	defer unlock()
	r, err := Load(path)
	if err != nil {
		return err
	}
	if err := change(r); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Reset starts a new record at now, expecting the stages of plan.
func Reset(path string, plan []string, now time.Time) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return update(path, func(r *Record) error {
		r.Reset, r.Plan, r.CPUs = now, plan, runtime.NumCPU()
		return nil
	})
}

// Begin marks name as started by the process pid, so stages waiting for it know it is alive.
func Begin(path, name string, pid int) error {
	return update(path, func(r *Record) error {
		if _, done := r.Find(name); done {
			return fmt.Errorf("stage %s was recorded already in this run", name)
		}
		if r.Running == nil {
			r.Running = map[string]int{}
		}
		r.Running[name] = pid
		return nil
	})
}

// Finish records s and clears its running mark.
func Finish(path string, s Stage) error {
	return update(path, func(r *Record) error {
		delete(r.Running, s.Name)
		r.Stages = append(r.Stages, s)
		return nil
	})
}

// StartGrace is how long after the reset a planned stage may take to begin; one that has not
// begun by then was not started by the job, and waiting for it would never end.
const StartGrace = time.Minute

// Wait polls the record until every stage of names has finished and returns them. A stage whose
// process is gone without a result, or that had not begun StartGrace after the reset, is
// returned failed, so a waiting stage never waits forever. alive reports whether a PID runs.
func Wait(path string, names []string, poll time.Duration, now func() time.Time, alive func(pid int) bool, stop <-chan struct{}) ([]Stage, error) {
	for {
		r, err := Load(path)
		if err != nil {
			return nil, err
		}
		var done []Stage
		for _, name := range names {
			if s, ok := r.Find(name); ok {
				done = append(done, s)
				continue
			}
			pid, started := r.Running[name]
			switch {
			case started && !alive(pid):
				done = append(done, Stage{Name: name, Exit: 1, Skipped: "its process ended without a result"})
			case !started && now().Sub(r.Reset) > StartGrace:
				done = append(done, Stage{Name: name, Exit: 1, Skipped: "it never started"})
			}
		}
		if len(done) == len(names) {
			return done, nil
		}
		select {
		case <-stop:
			return nil, errors.New("interrupted while waiting")
		case <-time.After(poll):
		}
	}
}

// DirSize is the bytes of the regular files under dir (0 when it does not exist).
func DirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// Kind says what the cache growth means: a stage that compiled more than a few megabytes
// built, one that grew less was served from the cache.
func Kind(growth int64) string {
	if growth > 20<<20 {
		return "built"
	}
	return "cached"
}

// Result is a stage's last column: ok, failed, skipped, running or not run.
func (r *Record) result(name string) string {
	s, ok := r.Find(name)
	switch {
	case ok && s.Skipped != "":
		return "skipped: " + s.Skipped
	case ok && s.Exit != 0:
		return fmt.Sprintf("failed (exit %d)", s.Exit)
	case ok:
		return "ok"
	}
	if _, running := r.Running[name]; running {
		return "running"
	}
	return "not run"
}

// Write prints the table in the plan's order, then the wall clock from the reset to the last
// stage's end against the CPU the stages used.
func Write(w io.Writer, r *Record) {
	fmt.Fprintf(w, "%-28s %6s %8s %8s  %-6s  %12s  %s\n", "STAGE", "START", "SECONDS", "CPU S", "GO", "CACHE GROWTH", "RESULT")
	var wall, cpu float64
	for _, name := range r.names() {
		s, ok := r.Find(name)
		if !ok || s.Skipped != "" {
			fmt.Fprintf(w, "%-28s %6s %8s %8s  %-6s  %12s  %s\n", name, "-", "-", "-", "-", "-", r.result(name))
			continue
		}
		fmt.Fprintf(w, "%-28s %6.0f %8.0f %8.0f  %-6s  %9.0f MB  %s\n", name, s.Start, s.Seconds, s.CPUSeconds, Kind(s.CacheGrowth), float64(s.CacheGrowth)/1e6, r.result(name))
		wall = max(wall, s.Start+s.Seconds)
		cpu += s.CPUSeconds
	}
	fmt.Fprintf(w, "%-28s %6s %8.0f %8.0f  (%s wall clock; %d CPUs give at most %.0f CPU s)\n", "total", "", wall, cpu,
		(time.Duration(wall) * time.Second).String(), max(r.CPUs, 1), float64(max(r.CPUs, 1))*wall)
	if bad := r.Failed(); len(bad) > 0 {
		fmt.Fprintf(w, "%d of %d stages did not pass: %s\n", len(bad), len(r.names()), strings.Join(bad, ", "))
	}
}
