// Package privatedocker runs a Docker daemon of our own next to the host's, for kind nodes on a
// machine whose Docker refuses --privileged (no CAP_SYS_RESOURCE anywhere). The daemon lives in a
// network namespace of its own, so its bridges, iptables rules and published ports never meet the
// host's docker0 or firewall; its socket, data and pidfile live under one directory; its default
// OCI runtime is hk itself (RunRuntime), which drops the capabilities the machine lacks. Stop
// removes every container, process, mount, cgroup and namespace it made and restores the host-wide
// sysctls that a kubelet inside a node changes.
package privatedocker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
)

// HostSysctls are the machine-wide settings a kubelet in a node changes (it sets kernel.panic=10,
// kernel.panic_on_oops=1, vm.overcommit_memory=1 at each start); Stop puts them back.
var HostSysctls = []string{"kernel.panic", "kernel.panic_on_oops", "vm.overcommit_memory"}

// Options configure a private daemon.
type Options struct {
	Dir string // socket, data root, pidfile, logs; kept between runs as an image cache
	HK  string // this hk binary, run as the OCI runtime
	Log func(format string, args ...any)
}

// Daemon is a running private dockerd.
type Daemon struct {
	Host string // DOCKER_HOST value: unix://<Dir>/docker.sock

	opts     Options
	netns    string // network namespace (ip netns name)
	execRoot string // dockerd --exec-root, under /run (socket paths must stay short)
	cgroup   string // --cgroup-parent
	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
	stopErr  error
	lock     *os.File // flock held while the daemon runs
}

// hostState is what Start records so that Stop, or the next Start after a crash, can restore it.
type hostState struct {
	Sysctls        map[string]string `json:"sysctls"`
	ModulesCreated bool              `json:"modulesCreated"` // /usr/lib/modules absent before (docker creates it for kind's /lib/modules mount)
}

// Names are the host-wide names a daemon at dir uses: its network namespace, exec root and
// cgroup parent (derived from dir, so a crashed run's leftovers are found again).
func Names(dir string) (netns, execRoot, cgroup string) {
	sum := sha256.Sum256([]byte(dir))
	id := hex.EncodeToString(sum[:4])
	return "hk-docker-" + id, "/run/hk-docker-" + id, "/hk-docker-" + id
}

// Start starts the daemon, first cleaning up whatever an earlier run that was killed left behind.
func Start(ctx context.Context, o Options) (*Daemon, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the private Docker daemon needs root (network namespace, mounts, cgroups)")
	}
	if err := command.Require("dockerd", "docker", "nsenter", "ip", "runc"); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	o.Dir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d := &Daemon{Host: "unix://" + filepath.Join(dir, "docker.sock"), opts: o, exited: make(chan struct{})}
	d.netns, d.execRoot, d.cgroup = Names(dir)
	// One daemon per directory: the cleanup below would kill another process's daemon.
	lock, err := os.OpenFile(d.path("lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(d.path("lock"))
		lock.Close()
		return nil, fmt.Errorf("the private Docker daemon at %s is in use by pid %s (stop it first)", dir, strings.TrimSpace(string(owner)))
	}
	lock.Truncate(0)
	fmt.Fprintf(lock, "%d\n", os.Getpid())
	d.lock = lock
	if err := d.cleanup(); err != nil {
		return nil, fmt.Errorf("clean up an earlier private daemon: %w", err)
	}
	if err := d.recordHost(); err != nil {
		return nil, err
	}
	if err := d.start(ctx); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

func (d *Daemon) path(p ...string) string {
	return filepath.Join(append([]string{d.opts.Dir}, p...)...)
}

func (d *Daemon) recordHost() error {
	st := hostState{Sysctls: map[string]string{}}
	for _, k := range HostSysctls {
		v, err := readSysctl(k)
		if err != nil {
			return err
		}
		st.Sysctls[k] = v
	}
	if _, err := os.Stat("/usr/lib/modules"); os.IsNotExist(err) {
		st.ModulesCreated = true
	}
	data, _ := json.Marshal(st)
	return os.WriteFile(d.path("host-state.json"), data, 0o600)
}

func (d *Daemon) start(ctx context.Context) error {
	run := func(args ...string) error {
		_, err := command.New(args[0], args[1:]...).Run(ctx)
		return err
	}
	if err := run("ip", "netns", "add", d.netns); err != nil {
		return err
	}
	if err := run("ip", "-n", d.netns, "link", "set", "lo", "up"); err != nil {
		return err
	}
	// An empty configuration of our own: /etc/docker/daemon.json belongs to the host's daemon.
	if err := os.WriteFile(d.path("daemon.json"), []byte("{}\n"), 0o644); err != nil {
		return err
	}
	runtime := d.path(RuntimeName)
	os.Remove(runtime)
	hk, err := filepath.Abs(d.opts.HK)
	if err != nil {
		return err
	}
	if err := os.Symlink(hk, runtime); err != nil {
		return err
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return err
	}
	logf, err := os.Create(d.path("dockerd.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"--net=/run/netns/" + d.netns, "--", "dockerd",
		"--config-file", d.path("daemon.json"),
		"--data-root", d.path("data"),
		"--exec-root", d.execRoot,
		"--pidfile", d.path("docker.pid"),
		"-H", d.Host,
		"--storage-driver", "overlay2",
		// In its own network namespace the default bridge name is its own; still, no rules and no
		// forwarding changes: nothing here needs to reach the outside.
		"--iptables=false", "--ip-forward=false", "--ip-masq=false",
		"--cgroup-parent", d.cgroup,
		"--oom-score-adjust", "0", // lowering it needs CAP_SYS_RESOURCE
		"--add-runtime", "hk=" + runtime, "--default-runtime", "hk",
	}
	d.cmd = exec.Command("nsenter", args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.Env = append(os.Environ(), "HK_OCI_RUNC="+runc)
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd: %w", err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := d.Docker("version", "--format", "{{.Server.Version}}").Output(ctx); err == nil {
			d.opts.Log("private docker: ready at %s (netns %s)", d.Host, d.netns)
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("dockerd exited at start: %s", lastLog(d.path("dockerd.log")))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dockerd not ready after 60s: %s", lastLog(d.path("dockerd.log")))
		}
	}
}

// Docker is a docker CLI command against this daemon.
func (d *Daemon) Docker(args ...string) *command.Cmd {
	return command.New("docker", args...).WithEnv("DOCKER_HOST=" + d.Host)
}

// NetNS is the network namespace the daemon and its containers' bridges live in.
func (d *Daemon) NetNS() string { return d.netns }

// StopOnSignal tears the daemon down and exits when the process gets SIGINT or SIGTERM, for
// callers (tests) that have no context of their own to cancel.
func (d *Daemon) StopOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "private docker: %v: tearing down\n", sig)
		d.Stop()
		os.Exit(130)
	}()
}

// Stop removes every container, then the daemon, its processes, mounts, cgroups and namespace,
// and restores the host sysctls. It is safe to call more than once.
func (d *Daemon) Stop() error {
	d.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if d.cmd != nil && d.cmd.Process != nil {
			select {
			case <-d.exited:
			default:
				if ids, err := d.Docker("ps", "-aq").Output(ctx); err == nil && ids != "" {
					d.opts.Log("private docker: removing %d containers", len(strings.Fields(ids)))
					d.Docker(append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...).Run(ctx)
				}
				d.Docker("network", "prune", "-f").Run(ctx)
				d.Docker("volume", "prune", "-f").Run(ctx)
				d.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-d.exited:
				case <-time.After(30 * time.Second):
					d.cmd.Process.Kill()
					<-d.exited
				}
			}
		}
		d.stopErr = d.cleanup()
		if d.stopErr == nil {
			d.opts.Log("private docker: stopped; host sysctls restored")
		}
		d.lock.Close()
	})
	return d.stopErr
}

// cleanup kills what is left of a daemon at this directory, unmounts, removes cgroups and the
// namespace and restores the recorded host state. It is what Stop ends with and what Start begins
// with after a run that was killed.
func (d *Daemon) cleanup() error {
	var errs []error
	if pid := readPid(d.path("docker.pid")); pid > 0 && isDockerd(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, 10*time.Second)
	}
	if _, err := os.Stat("/run/netns/" + d.netns); err == nil {
		if out, err := exec.Command("ip", "netns", "pids", d.netns).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, _ := strconv.Atoi(f); pid > 0 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	errs = append(errs, killCgroups(d.cgroup))
	errs = append(errs, unmountUnder(d.opts.Dir), unmountUnder(d.execRoot))
	if _, err := os.Stat("/run/netns/" + d.netns); err == nil {
		if out, err := exec.Command("ip", "netns", "del", d.netns).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns del %s: %v: %s", d.netns, err, out))
		}
	}
	errs = append(errs, removeCgroups(d.cgroup))
	if err := os.RemoveAll(d.execRoot); err != nil {
		errs = append(errs, err)
	}
	os.Remove(d.path("docker.sock"))
	errs = append(errs, d.restoreHost())
	return errors.Join(errs...)
}

func (d *Daemon) restoreHost() error {
	data, err := os.ReadFile(d.path("host-state.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var st hostState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("host-state.json: %w", err)
	}
	var errs []error
	for k, v := range st.Sysctls {
		if cur, _ := readSysctl(k); cur != v {
			if err := writeSysctl(k, v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if st.ModulesCreated {
		os.Remove("/usr/lib/modules") // only if empty, as docker made it
	}
	if len(errs) == 0 {
		os.Remove(d.path("host-state.json"))
	}
	return errors.Join(errs...)
}

func sysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

func readSysctl(key string) (string, error) {
	data, err := os.ReadFile(sysctlPath(key))
	return strings.TrimSpace(string(data)), err
}

func writeSysctl(key, value string) error {
	return os.WriteFile(sysctlPath(key), []byte(value+"\n"), 0o644)
}

func readPid(file string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

func isDockerd(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(comm)) == "dockerd"
}

func waitGone(pid int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		p := unescapeMount(f[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// cgroupDirs lists the daemon's cgroup directory in every mounted hierarchy.
func cgroupDirs(parent string) []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	var dirs []string
	for _, r := range roots {
		p := filepath.Join(r, parent)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			dirs = append(dirs, p)
		}
	}
	return dirs
}

// killCgroups kills every process left in the daemon's cgroups (nodes' systemd, kubelets, pods).
func killCgroups(parent string) error {
	for _, dir := range cgroupDirs(parent) {
		filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(data)) {
				if pid, _ := strconv.Atoi(f); pid > 0 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
	return nil
}

// removeCgroups removes the daemon's cgroup trees, deepest first, waiting briefly for killed
// processes to leave them.
func removeCgroups(parent string) error {
	var errs []error
	for _, dir := range cgroupDirs(parent) {
		var sub []string
		filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				sub = append(sub, p)
			}
			return nil
		})
		sort.Slice(sub, func(i, j int) bool { return len(sub[i]) > len(sub[j]) })
		for _, p := range sub {
			var err error
			for try := 0; try < 50; try++ {
				if err = syscall.Rmdir(p); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}

func lastLog(file string) string {
	data, _ := os.ReadFile(file)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}
