package versions

import (
	"errors"
	"testing"
)

func TestMinorAndStagingVersion(t *testing.T) {
	tests := []struct{ in, minor, staging string }{
		{"v1.37.2", "v1.37", "v0.37.2"},
		{"v1.21.14", "v1.21", "v0.21.14"},
	}
	for _, tc := range tests {
		if m, err := Minor(tc.in); err != nil || m != tc.minor {
			t.Errorf("Minor(%q) = %q, %v; want %q", tc.in, m, err, tc.minor)
		}
		if s, err := StagingVersion(tc.in); err != nil || s != tc.staging {
			t.Errorf("StagingVersion(%q) = %q, %v; want %q", tc.in, s, err, tc.staging)
		}
	}
	for _, bad := range []string{"", "1.37.2", "v1.37", "v2.0.0", "v1.37.2-rc.0", "latest"} {
		if _, err := Minor(bad); err == nil {
			t.Errorf("Minor(%q) accepted", bad)
		}
	}
}

func TestLoadUnknownVersion(t *testing.T) {
	_, err := Load(t.TempDir(), "v1.99.0")
	if !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("want ErrUnknownVersion, got %v", err)
	}
}

func TestRepositoryPinsAreComplete(t *testing.T) {
	for _, v := range Known("../../..") {
		p, err := Load("../../..", v)
		if err != nil {
			t.Errorf("%s: %v", v, err)
			continue
		}
		if len(p.Staging) == 0 || p.Etcd == "" || p.ReleaseTime == "" {
			t.Errorf("%s: incomplete pins: %d staging modules, etcd %q, release time %q", v, len(p.Staging), p.Etcd, p.ReleaseTime)
		}
	}
}
