package upstreamcheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
)

// LogcheckVersion is the logcheck of sigs.k8s.io/logtools we run. Upstream builds it from
// hack/tools as a golangci-lint plugin; hack/tools is not in the module zip, so it is pinned here
// (the newest release the Go module proxy serves) and run as its own command.
const LogcheckVersion = "v0.11.0"

// logcheck runs upstream's structured and contextual logging checker with the tree's
// hack/logcheck.conf on the touched packages, once per module, and keeps the findings on lines
// the series added (what --new-from-rev does for golangci-lint).
func logcheck(ctx context.Context, o Options, t Tree, w io.Writer) (Result, error) {
	r := Result{Check: "logcheck", Note: "sigs.k8s.io/logtools/logcheck " + LogcheckVersion + " standalone, hack/logcheck.conf"}
	conf := filepath.Join(t.Dir, "hack", "logcheck.conf")
	if _, err := os.Stat(conf); err != nil {
		r.Note = "not run: the tree has no hack/logcheck.conf"
		return r, nil
	}
	bin, err := installTool(ctx, o, "logcheck", "sigs.k8s.io/logtools/logcheck", LogcheckVersion)
	if err != nil {
		return r, err
	}
	added, err := addedLines(ctx, t)
	if err != nil {
		return r, err
	}
	for _, m := range byModule(t.Dirs) {
		o.Log("upstream-check: logcheck %s on %d packages of %s", LogcheckVersion, len(m.dirs), nonEmpty(m.dir, "the root module"))
		cmd := command.New(bin, append([]string{"-config", conf}, m.dirs...)...).InDir(filepath.Join(t.Dir, m.dir)).
			WithEnv("GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOTOOLCHAIN=local")
		cmd.Stdout, cmd.Stderr = w, w
		out, err := cmd.Run(ctx)
		var failed *command.Error
		if err != nil && !(errors.As(err, &failed) && failed.ExitCode == 3) { // 3: diagnostics reported
			return r, err
		}
		for _, l := range strings.Split(out, "\n") {
			file, line, ok := findingPosition(l, filepath.Join(t.Dir, m.dir))
			if ok && added[file][line] {
				r.Findings = append(r.Findings, strings.TrimPrefix(l, t.Dir+"/"))
			}
		}
	}
	return r, nil
}

// findingPosition parses "<path>:<line>:<col>: message" into the tree-relative file and line;
// a relative path is taken from dir.
func findingPosition(l, dir string) (string, int, bool) {
	if !issueRE.MatchString(l) {
		return "", 0, false
	}
	parts := strings.SplitN(l, ":", 4)
	if len(parts) < 4 {
		return "", 0, false
	}
	line, err := strconv.Atoi(parts[1])
	if err != nil {
		return "", 0, false
	}
	file := parts[0]
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	return file, line, true
}

// addedLines maps each file the series changed (absolute path) to the lines it added.
func addedLines(ctx context.Context, t Tree) (map[string]map[int]bool, error) {
	out, err := command.New("git", "diff", "-U0", "--no-color", t.Base, "HEAD", "--", "*.go").InDir(t.Dir).Output(ctx)
	if err != nil {
		return nil, err
	}
	return parseAddedLines(out, t.Dir), nil
}

func parseAddedLines(diff, dir string) map[string]map[int]bool {
	added := map[string]map[int]bool{}
	var file string
	sc := bufio.NewScanner(strings.NewReader(diff))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if rest, ok := strings.CutPrefix(l, "+++ b/"); ok {
			file = filepath.Join(dir, rest)
			added[file] = map[int]bool{}
			continue
		}
		// @@ -a,b +c,d @@: lines c .. c+d-1 of the new file (d omitted means 1).
		if rest, ok := strings.CutPrefix(l, "@@ "); ok && file != "" {
			fields := strings.Fields(rest)
			if len(fields) < 2 || !strings.HasPrefix(fields[1], "+") {
				continue
			}
			start, count := fields[1][1:], "1"
			if s, c, ok := strings.Cut(start, ","); ok {
				start, count = s, c
			}
			a, err1 := strconv.Atoi(start)
			n, err2 := strconv.Atoi(count)
			if err1 != nil || err2 != nil {
				continue
			}
			for i := a; i < a+n; i++ {
				added[file][i] = true
			}
		}
	}
	return added
}

// installTool builds pkg@version from the Go module proxy into ToolsDir/<name>-<version>-<go
// version>/<name>, once, and returns its path.
func installTool(ctx context.Context, o Options, name, pkg, version string) (string, error) {
	goVersion, err := command.New("go", "env", "GOVERSION").Output(ctx)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(o.ToolsDir, name+"-"+version+"-"+goVersion)
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(o.ToolsDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(o.ToolsDir, "."+name+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	o.Log("upstream-check: installing %s %s from the Go module proxy", name, version)
	if _, err := command.New("go", "install", pkg+"@"+version).
		InDir(tmp).WithEnv("GOBIN="+tmp, "GOFLAGS=", "GOTOOLCHAIN=local", "CGO_ENABLED=0").Run(ctx); err != nil {
		return "", fmt.Errorf("installing %s: %w", name, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return bin, nil
}
