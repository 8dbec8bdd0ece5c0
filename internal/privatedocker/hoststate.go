package privatedocker

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// HostSnapshot is what a private daemon must never change, as comparable strings: the host's
// dockerd processes, its docker0 bridge, the host's iptables rules (digests, without counters),
// /etc/docker (digest) and the sysctls a kubelet sets. Tests compare one taken before with one
// taken after.
func HostSnapshot() map[string]string {
	st := map[string]string{}
	out, _ := exec.Command("pidof", "dockerd").Output()
	st["dockerd pids"] = strings.TrimSpace(string(out))
	out, _ = exec.Command("ip", "-o", "link", "show", "docker0").Output()
	st["docker0"] = bridgeIdentity(string(out))
	counters := regexp.MustCompile(`\[\d+:\d+\]`)
	for _, save := range []string{"iptables-save", "iptables-legacy-save", "ip6tables-save"} {
		out, _ = exec.Command(save).Output()
		var kept []string
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "#") {
				kept = append(kept, counters.ReplaceAllString(line, ""))
			}
		}
		sum := sha256.Sum256([]byte(strings.Join(kept, "\n")))
		st[save] = hex.EncodeToString(sum[:8])
	}
	h := sha256.New()
	filepath.WalkDir("/etc/docker", func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(h, "%s %x\n", p, sha256.Sum256(data))
		}
		return nil
	})
	st["/etc/docker"] = hex.EncodeToString(h.Sum(nil)[:8])
	for _, k := range HostSysctls {
		v, _ := readSysctl(k)
		st[k] = v
	}
	_, err := os.Stat("/usr/lib/modules")
	st["/usr/lib/modules exists"] = fmt.Sprint(err == nil)
	return st
}

// bridgeIdentity is a line of `ip -o link show` less what the host's own containers change as
// they come and go (the operational state and the carrier flags: docker0 has a carrier while one
// of them is attached) and the link-layer details after the backslash.
func bridgeIdentity(line string) string {
	line = regexp.MustCompile(`state \S+|\s+\\.*`).ReplaceAllString(strings.TrimSpace(line), "")
	return regexp.MustCompile(`<[^>]*>`).ReplaceAllStringFunc(line, func(flags string) string {
		var kept []string
		for _, f := range strings.Split(strings.Trim(flags, "<>"), ",") {
			if f != "NO-CARRIER" && f != "LOWER_UP" && f != "DORMANT" {
				kept = append(kept, f)
			}
		}
		return "<" + strings.Join(kept, ",") + ">"
	})
}
