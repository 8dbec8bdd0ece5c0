package vuln

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tools prepares the pinned scanner and database once per test binary (under the user cache, as hk does).
func tools(t *testing.T) *Tools {
	t.Helper()
	p, err := LoadPins(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	tl, err := Prepare(context.Background(), p, filepath.Join(cache, "hk", "vuln"))
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// program builds a module requiring golang.org/x/text v0.3.6, whose language.Parse is vulnerable
// (GO-2021-0113, fixed in v0.3.7), with main's body as given; it returns the module's directory
// and the binary.
func program(t *testing.T, body string, ldflags ...string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/p\n\ngo 1.26\n\nrequire golang.org/x/text v0.3.6\n")
	write("main.go", "package main\n\nimport (\n\t\"fmt\"\n\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() {\n\t"+body+"\n}\n")
	bin := filepath.Join(dir, "p")
	cmd := exec.Command("go", append(append([]string{"build", "-trimpath"}, ldflags...), "-o", bin, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir, bin
}

func find(r *Report, id string) *Finding {
	for i := range r.Findings {
		if r.Findings[i].ID == id {
			return &r.Findings[i]
		}
	}
	return nil
}

// The pinned database, built offline, finds a known vulnerability in a stripped binary at the
// level it is reached: called where the vulnerable function is linked and in the call graph,
// imported where only its package is.
func TestScanFindsAKnownVulnerabilityAtItsLevel(t *testing.T) {
	tl := tools(t)
	if tl.Entries < 4000 || tl.Date.Before(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("database: %d entries dated %s", tl.Entries, tl.Date)
	}
	ctx := context.Background()
	callsDir, calls := program(t, `tag, err := language.Parse("en-US"); fmt.Println(tag, err)`)
	_, links := program(t, `fmt.Println(language.English.String())`)
	// Stripped as releases are (-s -w): govulncheck cannot tell which functions are linked and
	// counts every vulnerable function of a linked package, so reachability comes from source mode.
	_, stripped := program(t, `fmt.Println(language.English.String())`, "-ldflags=-s -w")
	for _, c := range []struct {
		name   string
		scan   func() (*Report, error)
		level  string
		symbol string
	}{
		{"binary calling Parse", func() (*Report, error) { return tl.ScanBinary(ctx, calls) }, Called, "golang.org/x/text/language.Parse"},
		{"source calling Parse", func() (*Report, error) { return tl.ScanSource(ctx, callsDir, nil, "./...") }, Called, "golang.org/x/text/language.Parse"},
		{"binary not calling it", func() (*Report, error) { return tl.ScanBinary(ctx, links) }, Imported, ""},
		{"stripped binary not calling it", func() (*Report, error) { return tl.ScanBinary(ctx, stripped) }, Called, "golang.org/x/text/language.ParseAcceptLanguage"},
	} {
		r, err := c.scan()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		f := find(r, "GO-2021-0113")
		if f == nil {
			t.Errorf("%s: GO-2021-0113 not found: %+v", c.name, r.Findings)
			continue
		}
		if f.Level != c.level || f.Module != "golang.org/x/text" || f.Version != "v0.3.6" || f.Fixed != "v0.3.7" {
			t.Errorf("%s: %+v, want level %s, golang.org/x/text v0.3.6 fixed in v0.3.7", c.name, f, c.level)
		}
		if c.symbol != "" && !strings.Contains(strings.Join(f.Symbols, " "), c.symbol) {
			t.Errorf("%s: symbols %v lack %s", c.name, f.Symbols, c.symbol)
		}
		if r.DatabaseDate != tl.Date || !strings.HasPrefix(r.Database, "golang.org/x/vulndb@") {
			t.Errorf("%s: report does not name its database and date: %s %s", c.name, r.Database, r.DatabaseDate)
		}
	}
}

// A tampered database source or scanner is refused before anything is built from it.
func TestPinsMustMatch(t *testing.T) {
	p, err := LoadPins(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	p.Database.Sum = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	_, err = Prepare(context.Background(), p, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "does not match its pin") {
		t.Errorf("Prepare with a wrong database hash: %v", err)
	}
}
