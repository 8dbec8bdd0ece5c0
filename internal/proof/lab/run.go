// Package lab boots a real etcd and a real kube-apiserver inside a sandbox that reproduces a
// network condition (a Profile), and reports what happened: ready or exited, when, with which
// fatal line, how many DNS queries, and which loopback address the apiserver used for itself.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/plumbing/progress"
	"github.com/hardened-hyperkube/hk/internal/proof/pki"
	"github.com/hardened-hyperkube/hk/internal/proof/resolveprobe"
	"github.com/hardened-hyperkube/hk/internal/proof/sandbox"
)

// Options is one lab run.
type Options struct {
	Binary  string  // hyperkube or kube-apiserver
	Etcd    string  // etcd binary
	Profile Profile //
	// Deadline is how long to wait for /readyz after starting the apiserver.
	Deadline time.Duration
	// Hold is how long to keep watching after ready (a run); a soak ignores it.
	Hold time.Duration
	// Boots > 1 makes a power-cycle soak: SIGKILL both processes after each boot and start
	// again on the same etcd data.
	Boots int
	// TermAfter > 0 sends the apiserver SIGTERM that long after its start and records its exit.
	TermAfter time.Duration
	// IPv6OffAfterReady > 0 disables IPv6 in the sandbox that long after ready; at the end of
	// Hold the run records whether the loopback client still renewed the identity lease.
	IPv6OffAfterReady time.Duration
	// Apiservers > 1 starts that many apiservers on one etcd at the same moment (a restart storm
	// of an HA control plane); the result has one boot per apiserver.
	Apiservers int
	// GODEBUG and EtcdGODEBUG, when set, are the apiserver's and etcd's GODEBUG (fips140=only:
	// FIPS 140-3 mode in which a non-approved algorithm fails); hk and the probes keep their own.
	GODEBUG, EtcdGODEBUG string
	// Keep leaves the work directory (logs, certificates, etcd data) for inspection.
	Keep bool
	Log  func(format string, args ...any)
}

// Run boots the binary under the profile in a new sandbox and returns the result. Everything the
// run started is gone when Run returns, whether it succeeded, failed or was cancelled.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := sandbox.Preflight(); err != nil {
		return nil, err
	}
	argv, err := apiserverArgv(o.Binary)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(o.Etcd); err != nil {
		return nil, fmt.Errorf("etcd binary: %w", err)
	}
	version, err := command.New(argv[0], append(argv[1:], "--version")...).Output(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s is not a kube-apiserver: %w", o.Binary, err)
	}
	version = strings.TrimPrefix(version, "Kubernetes ")

	work, err := os.MkdirTemp("", "hk-lab-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		o.Log("keeping work directory %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	for _, d := range []string{"pki", "etc"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o700); err != nil {
			return nil, err
		}
	}
	if o.Apiservers > maxApiservers {
		return nil, fmt.Errorf("at most %d apiservers, asked for %d", maxApiservers, o.Apiservers)
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
	for i := 0; i < max(o.Apiservers, 1); i++ {
		ip, _ := apiserverAddr(i)
		ips = append(ips, net.ParseIP(ip))
	}
	files, err := pki.Write(filepath.Join(work, "pki"), ips, []string{"localhost", "lab"})
	if err != nil {
		return nil, err
	}
	cfg := sandboxConfig{
		Spec: specFor(o.Profile, work, max(o.Apiservers, 1)), Profile: o.Profile, Apiserver: argv, Etcd: o.Etcd, Work: work, PKI: *files,
		Deadline: o.Deadline, Hold: o.Hold, Boots: o.Boots, Result: filepath.Join(work, "result.json"),
		TermAfter: o.TermAfter, IPv6OffAfterReady: o.IPv6OffAfterReady, Apiservers: o.Apiservers, GODEBUG: o.GODEBUG, EtcdGODEBUG: o.EtcdGODEBUG,
	}
	o.Log("lab: %s (%s) under %q", o.Binary, version, o.Profile.Name)
	runErr := runSandbox(ctx, &cfg, o.Log)

	res := &Result{}
	if err := readResult(&cfg, runErr, res); err != nil {
		return nil, err
	}
	res.Binary, res.Version = o.Binary, version
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if res.Error != "" && len(res.Boots) == 0 {
		return res, errors.New(res.Error)
	}
	return res, nil
}

// EtcFiles are the files the profile puts in the sandbox's /etc; nil means absent.
func EtcFiles(p Profile) map[string]*string {
	etc := map[string]*string{
		"resolv.conf":   sandbox.Text(p.ResolvConf()),
		"hosts":         sandbox.Text(p.Hosts),
		"hostname":      sandbox.Text("lab\n"),
		"nsswitch.conf": nil,
	}
	if p.NSSwitch != "" {
		etc["nsswitch.conf"] = sandbox.Text(p.NSSwitch)
	}
	return etc
}

// specFor is the sandbox for a profile with n apiservers, each with an address of its own on lo.
func specFor(p Profile, work string, n int) sandbox.Spec {
	var addrs []string
	for i := 0; i < n; i++ {
		ip, _ := apiserverAddr(i)
		addrs = append(addrs, ip+"/32")
	}
	return sandbox.Spec{Hostname: "lab", DisableIPv6: p.DisableIPv6, Addresses: addrs,
		Etc: EtcFiles(p), EtcDir: filepath.Join(work, "etc")}
}

// runSandbox hands cfg to a new sandbox's init and waits for it; the init's output goes to
// sandbox.log in the work directory.
func runSandbox(ctx context.Context, cfg *sandboxConfig, log func(string, ...any)) error {
	cfgPath := filepath.Join(cfg.Work, "config.json")
	data, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		return err
	}
	cmd, err := sandbox.Command(SandboxCommand, cfgPath)
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(cfg.Work, "sandbox.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd.Stdout = logFile
	cmd.Stderr = io.MultiWriter(logFile, progress.Lines(func(line string) {
		if msg, ok := strings.CutPrefix(line, PhasePrefix); ok && log != nil {
			log("lab: %s", msg)
		}
	}))
	return sandbox.Run(ctx, cmd, 2*stopGrace+5*time.Second)
}

// readResult loads what the sandbox's init wrote into v.
func readResult(cfg *sandboxConfig, runErr error, v any) error {
	data, err := os.ReadFile(cfg.Result)
	if err != nil {
		return fmt.Errorf("sandbox wrote no result (exit: %v): %s", runErr,
			strings.Join(tail(filepath.Join(cfg.Work, "sandbox.log"), 5), " | "))
	}
	return json.Unmarshal(data, v)
}

// Probe resolves "localhost" inside a sandbox set up as the profile says (with its nameservers
// answering, or not, as the profile says) and reports the time and the queries: the measured
// side of hk doctor's predicted lookup time.
func Probe(ctx context.Context, p Profile, timeout time.Duration) (*resolveprobe.Report, error) {
	if err := sandbox.Preflight(); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "hk-lab-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if err := os.Mkdir(filepath.Join(work, "etc"), 0o700); err != nil {
		return nil, err
	}
	cfg := sandboxConfig{Spec: specFor(p, work, 1), Profile: p, Work: work, Deadline: timeout,
		ProbeOnly: true, Result: filepath.Join(work, "result.json")}
	var r resolveprobe.Report
	if err := readResult(&cfg, runSandbox(ctx, &cfg, nil), &r); err != nil {
		return nil, err
	}
	return &r, ctx.Err()
}

// apiserverArgv returns how to start kube-apiserver from path: a hyperkube binary needs the
// component name first; a symlink named kube-apiserver or a plain kube-apiserver does not.
func apiserverArgv(path string) ([]string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("apiserver binary: %w", err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("apiserver binary %s is not an executable file", abs)
	}
	if filepath.Base(abs) == "hyperkube" {
		return []string{abs, "kube-apiserver"}, nil
	}
	return []string{abs}, nil
}
