package upstreamcheck

import "testing"

const sampleDiff = `diff --git a/staging/src/k8s.io/component-helpers/apimachinery/lease/controller.go b/staging/src/k8s.io/component-helpers/apimachinery/lease/controller.go
index 1111111..2222222 100644
--- a/staging/src/k8s.io/component-helpers/apimachinery/lease/controller.go
+++ b/staging/src/k8s.io/component-helpers/apimachinery/lease/controller.go
@@ -10,0 +11,2 @@ func a() {
+	added()
+	added()
@@ -40 +42 @@ func b() {
-	old()
+	changed()
@@ -60,3 +62,0 @@ func c() {
`

func TestLogcheckKeepsOnlyFindingsOnLinesTheSeriesAdded(t *testing.T) {
	added := parseAddedLines(sampleDiff, "/tree")
	file := "/tree/staging/src/k8s.io/component-helpers/apimachinery/lease/controller.go"
	for line, want := range map[int]bool{10: false, 11: true, 12: true, 13: false, 42: true, 62: false} {
		if added[file][line] != want {
			t.Errorf("line %d added = %v, want %v", line, added[file][line], want)
		}
	}
	f, line, ok := findingPosition("apimachinery/lease/controller.go:12:2: function \"Infof\" should not be used, convert to contextual logging", "/tree/staging/src/k8s.io/component-helpers")
	if !ok || f != file || line != 12 || !added[f][line] {
		t.Fatalf("findingPosition = %q %d %v", f, line, ok)
	}
	if _, _, ok := findingPosition("logcheck: some note without a position", "/tree"); ok {
		t.Fatalf("a line without a position was taken for a finding")
	}
}
