// Package progress reports long work: one line rewritten in place on a terminal, plain
// timestamped lines when the output is a file or a CI log, nothing with --quiet. A step that
// counts (packages compiled, modules downloaded) shows done/total, elapsed time and an estimate
// of what is left from the last run of the same step, recorded in a history file.
//
// The terminal handling is two escape sequences (carriage return, erase line) written by hand:
// golang.org/x/term and the progress-bar libraries bring golang.org/x/sys/unix, which the
// offline Bazel build cannot link (see BUILD.bazel), and nothing more is needed.
package progress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hardened-hyperkube/hk/internal/plumbing/filelock"
)

// Reporter writes progress to one stream (stderr).
type Reporter struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	quiet    bool
	start    time.Time
	live     bool          // a rewritable line is on screen
	interval time.Duration // between plain lines of one step
	history  string        // file of earlier runs' durations; "" keeps none
	now      func() time.Time
}

// New reports to f; on a character device it rewrites one line in place.
func New(f *os.File, quiet bool, history string) *Reporter {
	return &Reporter{w: f, tty: IsTerminal(f), quiet: quiet, start: time.Now(), interval: 15 * time.Second,
		history: history, now: time.Now}
}

// NewPlain reports plain lines to w, as on a CI log (for tests and pipes).
func NewPlain(w io.Writer, history string, interval time.Duration, now func() time.Time) *Reporter {
	return &Reporter{w: w, start: now(), interval: interval, history: history, now: now}
}

// IsTerminal says whether f is a terminal (a character device: /dev/null counts, harmlessly).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (r *Reporter) stamp() string { return fmt.Sprintf("[%5.1fs]", r.now().Sub(r.start).Seconds()) }

// Logf prints one timestamped line, above the live line if there is one.
func (r *Reporter) Logf(format string, args ...any) {
	if r.quiet {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clear()
	fmt.Fprintf(r.w, "%s %s\n", r.stamp(), fmt.Sprintf(format, args...))
}

func (r *Reporter) clear() {
	if r.live {
		fmt.Fprint(r.w, "\r\x1b[K")
		r.live = false
	}
}

// Step is one counted piece of long work.
type Step struct {
	r        *Reporter
	key      string // history key, e.g. "go build v1.37.2 linux/amd64"
	what     string // printed, e.g. "build v1.37.2: compiling"
	unit     string
	total    int
	done     int
	current  string
	started  time.Time
	lastLine time.Time
	lastUnit time.Time // when the last unit was done: what follows (a link) is the tail
	unitAt   []float64 // seconds from the start at which each unit was done
	prior    *record   // the last representative run of the same step
}

// record is one run of a step: Seconds until its last unit, Count units, then Tail seconds
// (go build's link, after the last package).
type record struct {
	Seconds float64 `json:"seconds"`
	Count   int     `json:"count"`
	Tail    float64 `json:"tail"`
	// Curve[i] is when the run had done (i+1)/curvePoints of its units: packages are not alike
	// (a build's first hundreds are small, its last are kubelet's and the apiserver's), so the
	// estimate follows the last run's shape, not its average.
	Curve []float64 `json:"curve,omitempty"`
}

const curvePoints = 20

// at is when the recorded run had done a fraction f of its units, interpolated on its curve.
func (r *record) at(f float64) float64 {
	if len(r.Curve) != curvePoints {
		return f * r.Seconds
	}
	x := f * curvePoints
	i := int(x)
	if i >= curvePoints {
		return r.Curve[curvePoints-1]
	}
	lo := 0.0
	if i > 0 {
		lo = r.Curve[i-1]
	}
	return lo + (x-float64(i))*(r.Curve[i]-lo)
}

// minRecorded is the fewest units a run must count to replace the recorded one: a rebuild of
// the few packages a patch touches says little about the pace of a cold build.
const minRecorded = 100

// Step starts a step of total units (0: unknown). key names it in the history.
func (r *Reporter) Step(key, what, unit string, total int) *Step {
	s := &Step{r: r, key: key, what: what, unit: unit, total: total, started: r.now()}
	s.lastLine = s.started
	if rec, ok := r.load()[key]; ok && rec.Count > 0 {
		s.prior = &rec
	}
	r.mu.Lock()
	s.render(true)
	r.mu.Unlock()
	return s
}

// Advance counts one unit done, named item.
func (s *Step) Advance(item string) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.done++
	s.current = item
	s.lastUnit = s.r.now()
	s.unitAt = append(s.unitAt, s.lastUnit.Sub(s.started).Seconds())
	s.render(false)
}

// Remaining estimates the time left. With a recorded run: what that run took from the same
// fraction on (plus its tail), scaled by how this run's pace compares with it so far once a
// tenth is done. Without one: this run's own rate, once a twentieth is done. 0 when unknown.
func (s *Step) Remaining() time.Duration {
	left := s.total - s.done
	if s.total == 0 || left <= 0 {
		return 0
	}
	elapsed := s.r.now().Sub(s.started).Seconds()
	f := float64(s.done) / float64(s.total)
	sec := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	switch {
	case s.prior != nil:
		// A run with more or fewer units than the recorded one takes proportionally longer.
		size := float64(s.total) / float64(s.prior.Count)
		rest := (s.prior.Seconds-s.prior.at(f))*size + s.prior.Tail
		// From a tenth on: measured on a second cold build, correcting at a twentieth (16 s in)
		// was thrown off by the first, smallest packages (-38 %), at a tenth it held (-24 %).
		if before := s.prior.at(f) * size; s.done*10 >= s.total && before > 0 {
			rest *= elapsed / before
		}
		return sec(rest)
	case s.done*20 >= s.total && s.done > 0:
		return sec(elapsed / float64(s.done) * float64(left))
	}
	return 0
}

func (s *Step) line() string {
	elapsed := s.r.now().Sub(s.started).Round(time.Second)
	msg := s.what
	if s.total > 0 {
		msg += fmt.Sprintf(" %d/%d %s (%d%%)", s.done, s.total, s.unit, s.done*100/s.total)
	} else {
		msg += fmt.Sprintf(" %d %s", s.done, s.unit)
	}
	msg += fmt.Sprintf(", %s elapsed", elapsed)
	if rem := s.Remaining(); rem > 0 {
		msg += fmt.Sprintf(", ~%s left", rem.Round(time.Second))
	}
	return msg
}

// render draws the step: in place on a terminal, else a plain line every interval.
func (s *Step) render(first bool) {
	if s.r.quiet {
		return
	}
	if s.r.tty {
		line := s.r.stamp() + " " + s.line()
		if s.current != "" {
			line += " " + s.current
		}
		if len(line) > 150 {
			line = line[:150]
		}
		fmt.Fprintf(s.r.w, "\r\x1b[K%s", line)
		s.r.live = true
		return
	}
	now := s.r.now()
	if first || now.Sub(s.lastLine) >= s.r.interval {
		fmt.Fprintf(s.r.w, "%s %s\n", s.r.stamp(), s.line())
		s.lastLine = now
	}
}

// Done ends the step, records its time for the next run's estimate and returns a summary.
func (s *Step) Done() string {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	elapsed := s.r.now().Sub(s.started)
	summary := fmt.Sprintf("%s %d %s in %s", s.what, s.done, s.unit, elapsed.Round(time.Second))
	if s.total > 0 && s.done < s.total {
		summary += fmt.Sprintf(" (%d of %d were cached)", s.total-s.done, s.total)
	}
	if !s.r.quiet {
		s.r.clear()
		fmt.Fprintf(s.r.w, "%s %s\n", s.r.stamp(), summary)
	}
	if s.done >= minRecorded || (s.done > 0 && s.prior == nil) {
		rec := record{Seconds: s.lastUnit.Sub(s.started).Seconds(), Count: s.done, Tail: s.r.now().Sub(s.lastUnit).Seconds()}
		for i := 1; i <= curvePoints; i++ {
			rec.Curve = append(rec.Curve, s.unitAt[(i*s.done+curvePoints-1)/curvePoints-1])
		}
		s.r.save(s.key, rec)
	}
	return summary
}

func (r *Reporter) load() map[string]record {
	out := map[string]record{}
	if r.history == "" {
		return out
	}
	data, err := os.ReadFile(r.history)
	if err == nil {
		_ = json.Unmarshal(data, &out) // a damaged history only costs the estimate
	}
	return out
}

// save records one step's time; a history that cannot be written costs only the estimate.
func (r *Reporter) save(key string, rec record) {
	if r.history == "" {
		return
	}
	if os.MkdirAll(filepath.Dir(r.history), 0o755) != nil {
		return
	}
	// make test runs several hk at once (the upstream checks): each adds its record under the
	// lock, through a temporary file of its own.
	unlock, err := filelock.Lock(r.history+".lock", nil)
	if err != nil {
		return
	}
	defer unlock()
	h := r.load()
	h[key] = rec
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(r.history), ".history-")
	if err != nil {
		return
	}
	_, werr := tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), r.history) != nil {
		os.Remove(tmp.Name())
	}
}

// Lines returns a writer that calls f with each complete line written to it.
func Lines(f func(string)) io.Writer { return &lineWriter{f: f} }

type lineWriter struct {
	f   func(string)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.f(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}
