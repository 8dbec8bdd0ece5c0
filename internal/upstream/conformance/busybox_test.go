package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDownloadChecksTheHash(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/busybox.tar.bz2" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("release tarball"))
	}))
	defer srv.Close()
	sum := sha256.Sum256([]byte("release tarball"))
	file := filepath.Join(t.TempDir(), "busybox.tar.bz2")
	if err := download(context.Background(), srv.URL+"/busybox.tar.bz2", file, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	// A tampered or wrong file, or a missing one, is an error naming it, and nothing is left.
	for _, c := range []struct{ path, want, msg string }{
		{"/busybox.tar.bz2", strings.Repeat("0", 64), "sha256"},
		{"/gone.tar.bz2", hex.EncodeToString(sum[:]), "404"},
	} {
		file := filepath.Join(t.TempDir(), "x")
		err := download(context.Background(), srv.URL+c.path, file, c.want)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("download %s: %v, want an error with %q", c.path, err, c.msg)
		}
		if _, serr := os.Stat(file); !os.IsNotExist(serr) {
			t.Errorf("download %s left %s behind", c.path, file)
		}
	}
}
