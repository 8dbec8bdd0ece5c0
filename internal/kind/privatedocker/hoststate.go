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
	"slices"
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
	link, _ := exec.Command("ip", "-o", "link", "show", "docker0").Output()
	addrs, _ := exec.Command("ip", "-o", "addr", "show", "dev", "docker0").Output()
	st["docker0"] = bridgeIdentity(string(link), string(addrs))
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

// bridgeIdentity is what identifies docker0 in `ip -o link show` and `ip -o addr show`: its
// index (a deleted and recreated bridge gets another), name, administrative state, MAC and global
// addresses. Left out is what the host's own containers change as they come and go: the carrier
// flags and operational state, and the MTU (a bridge takes the smallest of its ports').
func bridgeIdentity(link, addrs string) string {
	m := regexp.MustCompile(`^(\d+): (\S+): <([^>]*)>.*link/ether (\S+)`).FindStringSubmatch(strings.TrimSpace(link))
	if m == nil {
		return "absent"
	}
	admin := "down"
	if slices.Contains(strings.Split(m[3], ","), "UP") {
		admin = "up"
	}
	id := []string{m[1], m[2], admin, m[4]}
	for _, a := range regexp.MustCompile(`inet6? (\S+) .*scope global`).FindAllStringSubmatch(addrs, -1) {
		id = append(id, a[1])
	}
	return strings.Join(id, " ")
}
