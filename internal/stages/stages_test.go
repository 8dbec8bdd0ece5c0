package stages

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRecordAndTable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out", "test-stages.json")
	want := []Stage{
		{Name: "unit-test", Seconds: 61.4, CacheGrowth: 900 << 20},
		{Name: "bazel-test", Seconds: 2, CacheGrowth: 0},
		{Name: "integration-test", Seconds: 1019, Exit: 1},
	}
	for _, s := range want {
		if err := Append(p, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stages (-want +got):\n%s", d)
	}
	var b strings.Builder
	Write(&b, got)
	for _, line := range []string{
		"unit-test                         61  built         944 MB  ok",
		"bazel-test                         2  cached          0 MB  ok",
		"integration-test                1019  cached          0 MB  failed (exit 1)",
		"total                           1082  (18m2s)",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("table lacks %q:\n%s", line, b.String())
		}
	}
	if s, _ := Load(filepath.Join(t.TempDir(), "none.json")); s != nil {
		t.Errorf("a missing record loaded as %v", s)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), make([]byte, 1000), 0o644)
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	os.WriteFile(filepath.Join(dir, "d", "b"), make([]byte, 24), 0o644)
	if n := DirSize(dir); n != 1024 {
		t.Errorf("DirSize = %d, want 1024", n)
	}
}
