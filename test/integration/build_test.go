package integration

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardened-hyperkube/hk/internal/compile/build"
)

// The build's outputs as a release engineer receives them: a static binary whose checksum and
// provenance match it, and a symlink per component that runs that component.
func TestHyperkubeOutputs(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot(t), "out", version)
	bin := filepath.Join(dir, "hyperkube")
	if _, err := os.Stat(bin); err != nil {
		notBuilt(t, "%s not built (run `make hyperkube`): %v", bin, err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256(data))

	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if want := sum + "  hyperkube\n"; string(sums) != want {
		t.Errorf("SHA256SUMS = %q, want %q", sums, want)
	}
	var prov build.Provenance
	raw, err := os.ReadFile(filepath.Join(dir, "provenance.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &prov); err != nil {
		t.Fatal(err)
	}
	if prov.SHA256 != sum || len(prov.Patches) == 0 || len(prov.Modules) < 2 || !strings.HasPrefix(prov.GitVersion, version+"+hk.") {
		t.Errorf("provenance does not describe this build: sha %s patches %d modules %d version %s",
			prov.SHA256, len(prov.Patches), len(prov.Modules), prov.GitVersion)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("hyperkube is dynamically linked (%v)", p.Type)
		}
	}

	components, err := build.ComponentsOf(repoRoot(t), version)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range components {
		args := []string{"--version"}
		switch c {
		case "kubectl":
			args = []string{"version", "--client"}
		case "kubeadm":
			args = []string{"version", "-o", "short"}
		}
		out, err := exec.Command(filepath.Join(dir, c), args...).CombinedOutput()
		if err != nil {
			t.Errorf("%s %v: %v\n%s", c, args, err, out)
			continue
		}
		if !strings.Contains(string(out), prov.GitVersion) {
			t.Errorf("%s %v printed %q, want the stamped version %s", c, args, strings.TrimSpace(string(out)), prov.GitVersion)
		}
	}
	// The first argument also selects the component.
	out, err := exec.Command(bin, "kube-scheduler", "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), prov.GitVersion) {
		t.Errorf("hyperkube kube-scheduler --version: %v %q", err, out)
	}
	if out, err := exec.Command(bin, "no-such-component").CombinedOutput(); err == nil || !strings.Contains(string(out), "unknown component") {
		t.Errorf("an unknown component should fail with a usage message: %v %q", err, out)
	}
}
