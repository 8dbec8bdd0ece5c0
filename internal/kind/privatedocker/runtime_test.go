package privatedocker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRuncArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want runcInvocation
	}{
		{[]string{"--root", "/run/x", "--log", "/l.json", "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "/p", "id"},
			runcInvocation{sub: "create", bundle: "/b"}},
		{[]string{"--root=/r", "--systemd-cgroup", "run", "-b", "/b2", "id"}, runcInvocation{sub: "run", bundle: "/b2"}},
		{[]string{"--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "id"}, runcInvocation{sub: "exec", process: "/tmp/p.json"}},
		{[]string{"--root", "/r", "exec", "-p=x"}, runcInvocation{sub: "exec"}}, // runc has no -p=; not ours to guess
		{[]string{"--root", "/r", "state", "id"}, runcInvocation{sub: "state"}},
		{[]string{"features"}, runcInvocation{sub: "features"}},
	} {
		if diff := cmp.Diff(tc.want, parseRuncArgs(tc.args), cmp.AllowUnexported(runcInvocation{})); diff != "" {
			t.Errorf("%v: -want +got\n%s", tc.args, diff)
		}
	}
}

func TestMissingCapabilities(t *testing.T) {
	// This machine's bounding set: everything up to CAP_CHECKPOINT_RESTORE but CAP_SYS_RESOURCE.
	got := MissingCapabilities(0x000001fffeffffff)
	if diff := cmp.Diff(map[string]bool{"CAP_SYS_RESOURCE": true}, got); diff != "" {
		t.Errorf("-want +got\n%s", diff)
	}
	if n := len(MissingCapabilities(0)); n != len(capNames) {
		t.Errorf("empty bounding set: %d missing, want %d", n, len(capNames))
	}
}

func TestStripCapabilities(t *testing.T) {
	spec := `{"ociVersion":"1.0.2","process":{"args":["/sbin/init"],"capabilities":{
		"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE","CAP_SYS_ADMIN"],
		"effective":["CAP_SYS_RESOURCE"],"permitted":["CAP_CHOWN"]}},"root":{"path":"rootfs"}}`
	file := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(file, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := stripCapabilities(file, []string{"process", "capabilities"}, map[string]bool{"CAP_SYS_RESOURCE": true}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	var got struct {
		OCIVersion string `json:"ociVersion"`
		Process    struct {
			Args         []string            `json:"args"`
			Capabilities map[string][]string `json:"capabilities"`
		} `json:"process"`
		Root map[string]string `json:"root"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"bounding": {"CAP_CHOWN", "CAP_SYS_ADMIN"}, "effective": {}, "permitted": {"CAP_CHOWN"}}
	if diff := cmp.Diff(want, got.Process.Capabilities); diff != "" {
		t.Errorf("capabilities -want +got\n%s", diff)
	}
	if got.OCIVersion != "1.0.2" || got.Root["path"] != "rootfs" || len(got.Process.Args) != 1 {
		t.Errorf("other fields not kept: %s", data)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	// An exec process file has capabilities at the top.
	proc := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(proc, []byte(`{"args":["sh"],"capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_KILL"]}}`), 0o644)
	if err := stripCapabilities(proc, []string{"capabilities"}, map[string]bool{"CAP_SYS_RESOURCE": true}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(proc); string(data) != `{"args":["sh"],"capabilities":{"bounding":["CAP_KILL"]}}` {
		t.Errorf("process file: %s", data)
	}
	// Corrupt JSON is an error naming the file, and the file is left as it was.
	bad := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(bad, []byte("{"), 0o644)
	if err := stripCapabilities(bad, []string{"process", "capabilities"}, map[string]bool{"CAP_SYS_RESOURCE": true}); err == nil {
		t.Error("corrupt spec accepted")
	}
}
