package progress

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clock is a fake time source the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)} }
func lines(b *strings.Builder) []string  { return strings.Split(strings.TrimSpace(b.String()), "\n") }

func TestPlainLinesAndEstimateFromHistory(t *testing.T) {
	history := filepath.Join(t.TempDir(), "history.json")
	c := newClock()
	var out strings.Builder
	r := NewPlain(&out, history, 10*time.Second, c.now)

	// First run: no history, so the estimate comes from this run's own pace.
	s := r.Step("go build x", "build x: compiled", "packages", 100)
	for i := 0; i < 100; i++ {
		c.advance(time.Second)
		s.Advance("pkg")
		if i == 49 {
			if got := s.Remaining(); got != 50*time.Second {
				t.Errorf("half-way estimate without history = %v, want 50s", got)
			}
		}
	}
	if got := s.Done(); got != "build x: compiled 100 packages in 1m40s" {
		t.Errorf("summary %q", got)
	}
	got := lines(&out)
	// A line at the start, one every 10 s, and the summary: no line per package.
	if len(got) != 12 || !strings.HasPrefix(got[0], "[  0.0s] build x: compiled 0/100 packages (0%)") ||
		!strings.HasPrefix(got[11], "[100.0s] build x: compiled 100 packages in 1m40s") {
		t.Errorf("plain output:\n%s", out.String())
	}

	// Second run: the history's 1 s per package predicts the whole run from the start.
	out.Reset()
	r = NewPlain(&out, history, 10*time.Second, c.now)
	s = r.Step("go build x", "build x: compiled", "packages", 80)
	if got := s.Remaining(); got != 80*time.Second {
		t.Errorf("estimate from history = %v, want 80s", got)
	}
	// This run goes at half that pace: after a tenth the estimate follows it.
	for i := 0; i < 40; i++ {
		c.advance(2 * time.Second)
		s.Advance("pkg")
	}
	if got := s.Remaining(); got != 80*time.Second {
		t.Errorf("estimate at half the recorded pace = %v, want 80s", got)
	}
	s.Done()
	if !strings.Contains(out.String(), "compiled 40 packages in 1m20s (40 of 80 were cached)") {
		t.Errorf("summary should say how many were cached:\n%s", out.String())
	}
}

// The link after the last package is recorded apart, and a small rebuild does not replace the
// record of a representative one.
func TestHistoryKeepsTheTailAndRepresentativeRuns(t *testing.T) {
	history := filepath.Join(t.TempDir(), "history.json")
	c := newClock()
	var out strings.Builder
	run := func(units int, per, tail time.Duration) {
		s := NewPlain(&out, history, time.Hour, c.now).Step("k", "w", "packages", units)
		for i := 0; i < units; i++ {
			c.advance(per)
			s.Advance("p")
		}
		c.advance(tail)
		s.Done()
	}
	run(200, time.Second, 30*time.Second)
	run(3, 10*time.Second, 30*time.Second) // a patch-only rebuild
	s := NewPlain(&out, history, time.Hour, c.now).Step("k", "w", "packages", 100)
	if got := s.Remaining(); got != 130*time.Second {
		t.Errorf("estimate = %v, want 100 packages at 1s + the 30s tail", got)
	}
}

// Packages are not alike: a build's early ones compile fast, its late ones slowly. The estimate
// follows the recorded run's curve, where an average would promise far too little.
func TestEstimateFollowsTheRecordedShape(t *testing.T) {
	history := filepath.Join(t.TempDir(), "history.json")
	c := newClock()
	var out strings.Builder
	run := func(stop int) *Step {
		s := NewPlain(&out, history, time.Hour, c.now).Step("k", "w", "packages", 100)
		for i := 0; i < stop; i++ {
			per := 500 * time.Millisecond
			if i >= 50 {
				per = 1500 * time.Millisecond
			}
			c.advance(per)
			s.Advance("p")
		}
		return s
	}
	run(100).Done() // 25 s for the first half, 75 s for the second
	s := run(50)
	if got := s.Remaining(); got != 75*time.Second {
		t.Errorf("estimate half-way = %v, want the recorded run's 75s", got)
	}
}

func TestTerminalRewritesOneLineAndQuietIsSilent(t *testing.T) {
	c := newClock()
	var out strings.Builder
	r := NewPlain(&out, "", time.Hour, c.now)
	r.tty = true
	s := r.Step("k", "build: compiled", "packages", 3)
	s.Advance("k8s.io/api/core/v1")
	r.Logf("a message")
	s.Advance("k8s.io/apiserver")
	s.Done()
	want := "\r\x1b[K[  0.0s] build: compiled 0/3 packages (0%), 0s elapsed" +
		"\r\x1b[K[  0.0s] build: compiled 1/3 packages (33%), 0s elapsed k8s.io/api/core/v1" +
		"\r\x1b[K[  0.0s] a message\n" +
		"\r\x1b[K[  0.0s] build: compiled 2/3 packages (66%), 0s elapsed k8s.io/apiserver" +
		"\r\x1b[K[  0.0s] build: compiled 2 packages in 0s (1 of 3 were cached)\n"
	if out.String() != want {
		t.Errorf("terminal output\n%q\nwant\n%q", out.String(), want)
	}

	out.Reset()
	q := NewPlain(&out, "", time.Second, c.now)
	q.quiet = true
	q.Logf("x")
	qs := q.Step("k", "w", "u", 1)
	qs.Advance("a")
	qs.Done()
	if out.Len() != 0 {
		t.Errorf("quiet printed %q", out.String())
	}
}

func TestLines(t *testing.T) {
	var got []string
	w := Lines(func(l string) { got = append(got, l) })
	w.Write([]byte("k8s.io/a\nk8s.io/"))
	w.Write([]byte("b\npartial"))
	if strings.Join(got, ",") != "k8s.io/a,k8s.io/b" {
		t.Errorf("lines %q", got)
	}
}
