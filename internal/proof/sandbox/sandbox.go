// Package sandbox runs a process in fresh network, mount, UTS and PID namespaces with a curated
// /etc, so a test can disable IPv6, point resolv.conf at its own nameservers and pin the hostname
// without touching the host. Nothing outlives the sandbox: its init is PID 1 of its own PID
// namespace (the kernel kills every process in it when the init exits), the init dies with its
// parent (PDEATHSIG), and mounts and addresses live only in namespaces that vanish with it.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
)

// Spec is the environment inside the sandbox.
type Spec struct {
	Hostname    string `json:"hostname"`
	DisableIPv6 bool   `json:"disableIPv6"`
	// Addresses are added to lo, e.g. "192.0.2.10/32" for an address to advertise.
	Addresses []string `json:"addresses"`
	// Etc maps file names in /etc to their content; a nil value makes the file absent.
	Etc map[string]*string `json:"etc"`
	// EtcDir is a scratch directory (outside the sandbox) for the /etc overlay layer.
	EtcDir string `json:"etcDir"`
}

// Text is a helper for Spec.Etc values.
func Text(s string) *string { return &s }

// ErrNotRoot is returned when the caller cannot create namespaces.
var ErrNotRoot = errors.New("the lab needs root: it creates network, mount and PID namespaces")

// Preflight reports what would stop a sandbox from starting: not being root, or no `ip` (the
// init sets up lo with it). Callers run it before preparing anything.
func Preflight() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	return command.Require("ip")
}

// Command returns a command that re-executes the current binary with args inside new
// namespaces. Run it with Run.
func Command(args ...string) (*exec.Cmd, error) {
	if err := Preflight(); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
		Setpgid:    true, // a terminal's Ctrl-C reaches only us; Run then stops the sandbox in order
	}
	return cmd, nil
}

// Run starts cmd and waits for it. When ctx is cancelled the sandbox's init gets SIGTERM, and
// SIGKILL if it has not exited after grace.
func Run(ctx context.Context, cmd *exec.Cmd, grace time.Duration) error {
	// PDEATHSIG fires when the thread that forked the child exits, so keep this goroutine on
	// its thread for as long as the child lives.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sandbox: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		return <-done
	}
}

// Setup configures the namespaces of the calling process, which must have been started by
// Command. It is the first thing the sandbox's init does.
func Setup(spec Spec) error {
	if os.Getpid() != 1 {
		return errors.New("sandbox setup must run as PID 1 of a new PID namespace")
	}
	// Keep our mounts out of the host's mount namespace.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// A /proc for this PID namespace, which also shows this network namespace's sysctls.
	if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if spec.Hostname != "" {
		if err := syscall.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	if spec.DisableIPv6 {
		if err := DisableIPv6(); err != nil {
			return err
		}
	}
	ctx := context.Background()
	if _, err := command.New("ip", "link", "set", "lo", "up").Run(ctx); err != nil {
		return err
	}
	for _, a := range spec.Addresses {
		if _, err := command.New("ip", "addr", "add", a, "dev", "lo").Run(ctx); err != nil {
			return err
		}
	}
	if err := checkLoopback(spec.DisableIPv6); err != nil {
		return err
	}
	return overlayEtc(spec)
}

// DisableIPv6 turns IPv6 off in the calling process's network namespace, which removes ::1
// from lo. Inside the sandbox that is the sandbox's own namespace; the lab also calls it while
// an apiserver runs, as an operator disabling IPv6 at runtime would.
func DisableIPv6() error {
	for _, dev := range []string{"all", "default", "lo"} {
		p := filepath.Join("/proc/sys/net/ipv6/conf", dev, "disable_ipv6")
		if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("disable IPv6: %w", err)
		}
	}
	return nil
}

// checkLoopback verifies the state the sandbox promises: 127.0.0.1 present, ::1 present
// exactly when IPv6 is enabled.
func checkLoopback(ipv6Disabled bool) error {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return err
	}
	var v4, v6 bool
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok && ipnet.IP.IsLoopback() {
			if ipnet.IP.To4() != nil {
				v4 = true
			} else {
				v6 = true
			}
		}
	}
	switch {
	case !v4:
		return errors.New("sandbox: lo has no 127.0.0.1")
	case ipv6Disabled && v6:
		return errors.New("sandbox: ::1 still present after disabling IPv6")
	case !ipv6Disabled && !v6:
		return errors.New("sandbox: ::1 missing although IPv6 is enabled (is IPv6 disabled on the host kernel?)")
	}
	return nil
}

// overlayEtc mounts a read-only overlay on /etc whose top layer holds the curated files and
// whiteouts for files that must be absent.
func overlayEtc(spec Spec) error {
	if len(spec.Etc) == 0 {
		return nil
	}
	if spec.EtcDir == "" || strings.ContainsAny(spec.EtcDir, ":,") {
		return fmt.Errorf("sandbox: unusable /etc layer directory %q", spec.EtcDir)
	}
	for name, content := range spec.Etc {
		p := filepath.Join(spec.EtcDir, name)
		if content == nil {
			// An overlay whiteout: a 0/0 character device hides the lower file.
			if err := syscall.Mknod(p, syscall.S_IFCHR|0o000, 0); err != nil {
				return fmt.Errorf("whiteout /etc/%s: %w", name, err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(*content), 0o644); err != nil {
			return err
		}
	}
	opts := "lowerdir=" + spec.EtcDir + ":/etc"
	if err := syscall.Mount("overlay", "/etc", "overlay", syscall.MS_RDONLY, opts); err != nil {
		return fmt.Errorf("mount /etc overlay: %w", err)
	}
	for name, content := range spec.Etc {
		_, err := os.Stat(filepath.Join("/etc", name))
		if content == nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sandbox: /etc/%s should be absent", name)
		}
		if content != nil && err != nil {
			return fmt.Errorf("sandbox: /etc/%s: %w", name, err)
		}
	}
	return nil
}
