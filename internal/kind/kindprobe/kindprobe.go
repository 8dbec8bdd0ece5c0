// Package kindprobe records what the local Docker engine allows of what kind needs: kind runs
// each node as a `docker run --privileged` container with systemd as PID 1 and a nested
// containerd. The probe runs small containers from a locally imported image (no registry) that
// hold only the static hk binary, and reports each check with the engine's own error text.
package kindprobe

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
)

// InsideCommand is the hidden hk command the probe containers run.
const InsideCommand = "__kind-probe-inside"

// Check is one probed capability.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Report is everything the probe saw.
type Report struct {
	Engine  map[string]string `json:"engine"`
	Checks  []Check           `json:"checks"`
	Blocker string            `json:"blocker,omitempty"` // what stops kind outright, if anything
}

// capNames are the Linux capabilities by bit number (capability.h), to name what is missing.
var capNames = []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN",
	"SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND",
	"AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"}

// Run probes the engine with hkBinary (a static hk) as the only file of the probe image.
func Run(ctx context.Context, hkBinary string, log func(string, ...any)) (*Report, error) {
	if err := command.Require("docker"); err != nil {
		return nil, err
	}
	r := &Report{Engine: map[string]string{}}
	info, err := command.New("docker", "info", "--format",
		`{{.ServerVersion}}|{{.CgroupVersion}}|{{.CgroupDriver}}|{{.Driver}}|{{.DefaultRuntime}}|{{.KernelVersion}}`).Output(ctx)
	if err != nil {
		return nil, fmt.Errorf("the Docker engine does not answer: %w", err)
	}
	f := strings.Split(info, "|")
	for i, k := range []string{"server", "cgroupVersion", "cgroupDriver", "storageDriver", "defaultRuntime", "kernel"} {
		if i < len(f) {
			r.Engine[k] = f[i]
		}
	}
	missing := missingCapabilities()
	r.Engine["boundingSetMissing"] = strings.Join(missing, ",")

	tag := "hk-kind-probe:local"
	log("import %s (the static hk binary only)", tag)
	if err := importProbeImage(ctx, hkBinary, tag); err != nil {
		return nil, err
	}
	defer command.New("docker", "rmi", "-f", tag).Run(context.WithoutCancel(ctx))

	run := func(name string, flags ...string) Check {
		log("probe: %s", name)
		args := append(append([]string{"run", "--rm"}, flags...), tag, "/hk", InsideCommand)
		out, err := command.New("docker", args...).Output(ctx)
		if err != nil {
			return Check{Name: name, Detail: engineError(err)}
		}
		return Check{Name: name, OK: true, Detail: out}
	}
	r.Checks = append(r.Checks, run("plain container"))
	privileged := run("--privileged container (kind's node)", "--privileged")
	r.Checks = append(r.Checks, privileged)
	if len(missing) > 0 {
		flags := []string{"--cap-add", "ALL", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined"}
		for _, c := range missing {
			flags = append(flags, "--cap-drop", c)
		}
		r.Checks = append(r.Checks, run("all capabilities the engine has (not --privileged)", flags...))
	}
	if r.Engine["cgroupVersion"] != "2" {
		r.Checks = append(r.Checks, Check{Name: "cgroup v2", Detail: "engine runs cgroup v" + r.Engine["cgroupVersion"] +
			": kind's current node images expect v2, and kubelet >= 1.35 refuses v1 unless failCgroupV1 is false"})
	} else {
		r.Checks = append(r.Checks, Check{Name: "cgroup v2", OK: true, Detail: "cgroup v2"})
	}
	if !privileged.OK {
		r.Blocker = "kind starts every node with `docker run --privileged`, and this engine cannot start a privileged container: " + privileged.Detail
		if len(missing) > 0 {
			r.Blocker += fmt.Sprintf(" (the engine's capability bounding set lacks %s, which --privileged asks for)", strings.Join(missing, ", "))
		}
		r.Checks = append(r.Checks,
			Check{Name: "systemd as PID 1", Detail: "not probed: needs a privileged node container"},
			Check{Name: "nested containerd", Detail: "not probed: needs a privileged node container"})
	}
	return r, nil
}

// missingCapabilities names the capabilities up to CAP_LAST_CAP that the Docker daemon's bounding
// set lacks (what --privileged will try and fail to grant).
func missingCapabilities() []string {
	last, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return nil
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(last)))
	bnd, ok := boundingSet(daemonPID())
	if !ok {
		return nil
	}
	var missing []string
	for bit := 0; bit <= n && bit < len(capNames); bit++ {
		if bnd&(1<<bit) == 0 {
			missing = append(missing, capNames[bit])
		}
	}
	return missing
}

func daemonPID() string {
	out, err := command.New("pidof", "dockerd").Output(context.Background())
	if err != nil {
		return "self"
	}
	return strings.Fields(out)[0]
}

func boundingSet(pid string) (uint64, bool) {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// importProbeImage makes an image whose only file is /hk.
func importProbeImage(ctx context.Context, hkBinary, tag string) error {
	data, err := os.ReadFile(hkBinary)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "hk", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	cmd := command.New("docker", "import", "-", tag)
	cmd.Stdin = &buf
	_, err = cmd.Run(ctx)
	return err
}

// Inside runs in a probe container and prints what a kind node would need to find.
func Inside(w io.Writer) int {
	eff := "?"
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
				eff = strings.TrimSpace(v)
			}
		}
	}
	_, sysErr := os.Stat("/sys/fs/cgroup")
	devs, _ := os.ReadDir("/dev")
	out, _ := json.Marshal(map[string]any{"capEff": eff, "sysFsCgroup": sysErr == nil, "devEntries": len(devs)})
	fmt.Fprintln(w, string(out))
	return 0
}

// engineError is the daemon's own complaint ("docker: Error response from daemon: ..."), the
// part worth recording, rather than the whole command line.
func engineError(err error) string {
	var ce *command.Error
	if errors.As(err, &ce) {
		for _, l := range strings.Split(ce.Output, "\n") {
			if strings.Contains(l, "Error") {
				return strings.TrimSpace(strings.TrimPrefix(l, "docker: "))
			}
		}
	}
	return err.Error()
}
