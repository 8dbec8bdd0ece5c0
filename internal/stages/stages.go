// Package stages times the stages of a long job (make test) and prints them as one table, so
// every CI log shows where the time went and whether the Go build cache had to grow (a cold
// stage) or served it (a warm one).
package stages

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Stage is one timed stage.
type Stage struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Exit    int     `json:"exit"`
	// CacheGrowth is how many bytes the Go build cache grew by during the stage: near zero
	// when it served everything.
	CacheGrowth int64 `json:"cacheGrowth"`
}

// Load reads the stages recorded so far; a missing file is none.
func Load(path string) ([]Stage, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s []Stage
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Append records one stage.
func Append(path string, s Stage) error {
	all, err := Load(path)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(append(all, s), "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
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

// Write prints the table and the total.
func Write(w io.Writer, all []Stage) {
	var total float64
	fmt.Fprintf(w, "%-26s %9s  %-6s  %12s  %s\n", "STAGE", "SECONDS", "GO", "CACHE GROWTH", "RESULT")
	for _, s := range all {
		result := "ok"
		if s.Exit != 0 {
			result = fmt.Sprintf("failed (exit %d)", s.Exit)
		}
		fmt.Fprintf(w, "%-26s %9.0f  %-6s  %9.0f MB  %s\n", s.Name, s.Seconds, Kind(s.CacheGrowth), float64(s.CacheGrowth)/1e6, result)
		total += s.Seconds
	}
	fmt.Fprintf(w, "%-26s %9.0f  (%s)\n", "total", total, (time.Duration(total) * time.Second).String())
}
