package privatedocker

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// RuntimeName is the name hk answers to when the private daemon runs it as its OCI runtime
// (through a symlink, so no shell script sits between dockerd and runc).
const RuntimeName = "hk-oci-runtime"

// capNames are the Linux capabilities by number (linux/capability.h), as OCI specs name them.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// MissingCapabilities are the capabilities named in capNames that are not in a bounding set
// (the CapBnd mask of /proc/<pid>/status). A container asking for one of them cannot start.
func MissingCapabilities(bounding uint64) map[string]bool {
	missing := map[string]bool{}
	for i, name := range capNames {
		if bounding&(1<<uint(i)) == 0 {
			missing[name] = true
		}
	}
	return missing
}

// BoundingSet reads this process's capability bounding set.
func BoundingSet() (uint64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapBnd in /proc/self/status")
}

// runcInvocation is what the wrapper needs from a runc command line: the subcommand and the files
// holding the capabilities it will apply.
type runcInvocation struct {
	sub, bundle, process string
}

// parseRuncArgs finds the subcommand and its --bundle/--process files in a runc command line
// (global flags come first: --root DIR --log FILE --log-format json create --bundle B ID).
func parseRuncArgs(args []string) runcInvocation {
	var inv runcInvocation
	valueFlags := map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case inv.sub == "" && valueFlags[a]:
			i++
		case inv.sub == "" && !strings.HasPrefix(a, "-"):
			inv.sub = a
		default:
			for _, f := range []struct {
				long, short string
				dst         *string
			}{{"--bundle", "-b", &inv.bundle}, {"--process", "-p", &inv.process}} {
				if (a == f.long || a == f.short) && i+1 < len(args) {
					*f.dst = args[i+1]
					i++
				} else if v, ok := strings.CutPrefix(a, f.long+"="); ok {
					*f.dst = v
				}
			}
		}
	}
	return inv
}

// RunRuntime is hk acting as the private daemon's OCI runtime: it removes the capabilities this
// machine's bounding set lacks from the container's spec (create, run) or the exec process
// (exec), then execs the real runc with the same arguments. Without it every --privileged
// container fails here with "unable to apply caps: operation not permitted".
func RunRuntime(args []string) int {
	inv := parseRuncArgs(args)
	bounding, err := BoundingSet()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", RuntimeName, err)
		return 1
	}
	missing := MissingCapabilities(bounding)
	var file string
	var capsPath []string
	switch inv.sub {
	case "create", "run":
		file = filepath.Join(nonEmpty(inv.bundle, "."), "config.json")
		capsPath = []string{"process", "capabilities"}
	case "exec":
		file = inv.process
		capsPath = []string{"capabilities"}
	}
	if file != "" && len(missing) > 0 {
		if err := stripCapabilities(file, capsPath, missing); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", RuntimeName, err)
			return 1
		}
	}
	runc, err := realRunc()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", RuntimeName, err)
		return 1
	}
	err = syscall.Exec(runc, append([]string{"runc"}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "%s: exec %s: %v\n", RuntimeName, runc, err)
	return 1
}

// realRunc is $HK_OCI_RUNC or runc on PATH.
func realRunc() (string, error) {
	if p := os.Getenv("HK_OCI_RUNC"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("runc")
	if err != nil {
		return "", fmt.Errorf("runc not found on PATH (set HK_OCI_RUNC)")
	}
	return p, nil
}

// stripCapabilities rewrites the JSON file, removing missing capabilities from every set
// (bounding, effective, inheritable, permitted, ambient) of the object at path. Other fields are
// kept as they are; the file is replaced atomically with its mode.
func stripCapabilities(file string, path []string, missing map[string]bool) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	obj := doc
	for _, key := range path {
		next, ok := obj[key].(map[string]any)
		if !ok {
			return nil // no capabilities: nothing to strip
		}
		obj = next
	}
	changed := false
	for set, v := range obj {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		kept := list[:0:0]
		for _, c := range list {
			if name, _ := c.(string); missing[name] {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		obj[set] = kept
	}
	if !changed {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	tmp := file + ".hk-tmp"
	if err := os.WriteFile(tmp, out, st.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
