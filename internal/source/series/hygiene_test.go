package series

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Patches change Go code and tests only: go.mod and go.sum edits creep in from `go test
// -mod=mod` in a development tree, and a vendor/ edit is silently dropped by the next
// `go mod vendor`.
func TestPatchesTouchNoModuleFilesOrVendor(t *testing.T) {
	patches, _ := filepath.Glob(filepath.Join("..", "..", "..", "patches", "*", "*.patch"))
	if len(patches) == 0 {
		t.Fatal("no patches found")
	}
	for _, p := range patches {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			file, ok := strings.CutPrefix(sc.Text(), "+++ b/")
			if !ok {
				continue
			}
			base := filepath.Base(file)
			if base == "go.mod" || base == "go.sum" || base == "go.work" || strings.HasPrefix(file, "vendor/") || strings.Contains(file, "/vendor/") {
				t.Errorf("%s changes %s", filepath.Base(p), file)
			}
		}
		f.Close()
	}
}
