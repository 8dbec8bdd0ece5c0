package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hardened-hyperkube/hk/internal/proof/dnshole"
	"github.com/hardened-hyperkube/hk/internal/proof/pki"
	"github.com/hardened-hyperkube/hk/internal/proof/resolveprobe"
	"github.com/hardened-hyperkube/hk/internal/proof/sandbox"
)

// SandboxCommand is the hidden hk subcommand the sandbox's init runs.
const SandboxCommand = "__lab-sandbox"

// NoIPv6Command is the hidden hk subcommand that execs the rest of its arguments unable to make
// an AF_INET6 socket (the ipv6-absent profile).
const NoIPv6Command = "__lab-no-ipv6"

// HiddenCommands are the entry points the lab re-executes its own binary into; every binary that
// runs the lab (hk, the integration tests) dispatches them from its main.
var HiddenCommands = map[string]func(args []string) int{
	SandboxCommand: SandboxMain,
	NoIPv6Command:  NoIPv6Main,
}

// NoIPv6Main execs args under sandbox.ExecWithoutIPv6; it returns only when that fails.
func NoIPv6Main(args []string) int {
	err := sandbox.ExecWithoutIPv6(args)
	fmt.Fprintln(os.Stderr, NoIPv6Command+":", err)
	return 1
}

// withProfile prefixes argv as the profile requires: hk itself re-executing into argv without
// IPv6 sockets when the profile has IPv6 absent.
func withProfile(p Profile, argv []string) ([]string, error) {
	if !p.IPv6Absent {
		return argv, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return append([]string{self, NoIPv6Command}, argv...), nil
}

const (
	advertiseIP = "192.0.2.10" // on lo inside the sandbox only (TEST-NET-1, never routed)
	securePort  = "6443"
	// maxApiservers is how many apiservers a storm may start: the i-th listens on 6443+i and
	// advertises 192.0.2.(10+i).
	maxApiservers = 5
	etcdClient    = "http://127.0.0.1:2379"
	etcdPeer      = "http://127.0.0.1:2380"
	stopGrace     = 15 * time.Second
	probePeriod   = 100 * time.Millisecond
	probeTimeout  = 2 * time.Second
)

// sandboxConfig is handed from the host side to the sandbox's init as JSON.
type sandboxConfig struct {
	Spec      sandbox.Spec  `json:"spec"`
	Profile   Profile       `json:"profile"`
	Apiserver []string      `json:"apiserver"` // argv prefix: binary, plus "kube-apiserver" for hyperkube
	Etcd      string        `json:"etcd"`
	Work      string        `json:"work"`
	PKI       pki.Files     `json:"pki"`
	Deadline  time.Duration `json:"deadline"` // how long to wait for ready
	Hold      time.Duration `json:"hold"`     // how long to watch after ready
	Boots     int           `json:"boots"`    // >1: power-cycle soak
	// TermAfter > 0 sends the apiserver SIGTERM that long after its start and watches its exit.
	TermAfter time.Duration `json:"termAfter"`
	// IPv6OffAfterReady > 0 disables IPv6 in the sandbox that long after ready, then checks at
	// the end of Hold that the apiserver's loopback client still renews its identity lease.
	IPv6OffAfterReady time.Duration `json:"ipv6OffAfterReady"`
	// Apiservers > 1 starts that many apiservers on one etcd at the same moment (a storm).
	Apiservers  int    `json:"apiservers"`
	ProbeOnly   bool   `json:"probeOnly"`   // resolve "localhost" once instead of booting
	GODEBUG     string `json:"godebug"`     // the apiserver's GODEBUG, when set
	EtcdGODEBUG string `json:"etcdGodebug"` // etcd's GODEBUG, when set
	Result      string `json:"result"`
}

// SandboxMain is the sandbox's init: it sets up the namespaces, runs the boots and writes the
// result. Its exit ends every process in the sandbox.
func SandboxMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: hk "+SandboxCommand+" CONFIG")
		return 2
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var cfg sandboxConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var out []byte
	if cfg.ProbeOnly {
		r, err := probeInside(ctx, &cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		out, _ = json.Marshal(r)
	} else {
		res := &Result{Profile: cfg.Profile.Name}
		if err := runInside(ctx, &cfg, res); err != nil {
			res.Error = err.Error()
		}
		out, _ = json.Marshal(res)
	}
	if err := os.WriteFile(cfg.Result, out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func probeInside(ctx context.Context, cfg *sandboxConfig) (*resolveprobe.Report, error) {
	if err := sandbox.Setup(cfg.Spec); err != nil {
		return nil, err
	}
	return resolveprobe.Run(ctx, cfg.Profile.nameserverAddrs(), cfg.Profile.answerAfter(), cfg.Deadline)
}

// answerAfter converts DNSAnswersAfter to dnshole's terms.
func (p Profile) answerAfter() time.Duration {
	if p.DNSAnswersAfter < 0 {
		return time.Nanosecond // answering from the start
	}
	return p.DNSAnswersAfter
}

func runInside(ctx context.Context, cfg *sandboxConfig, res *Result) error {
	if err := sandbox.Setup(cfg.Spec); err != nil {
		return err
	}
	answerAfter := cfg.Profile.answerAfter()
	var addrs []string
	for _, a := range cfg.Profile.nameserverAddrs() {
		addrs = append(addrs, net.JoinHostPort(a, "53"))
	}
	dns, err := dnshole.Start(answerAfter, addrs...)
	if err != nil {
		return err
	}
	defer dns.Close()
	client, err := probeClient(cfg.PKI)
	if err != nil {
		return err
	}
	if cfg.Apiservers > 1 {
		bs, err := storm(ctx, cfg, client)
		if err != nil {
			return err
		}
		// The apiservers share one window: each is shown every query.
		total, names := queriesSince(dns, 0)
		for i := range bs {
			bs[i].DNSQueries, bs[i].DNSNames = total, names
		}
		res.Boots = bs
		return ctx.Err()
	}
	boots := max(cfg.Boots, 1)
	for i := 0; i < boots && ctx.Err() == nil; i++ {
		seen := len(dns.Queries())
		b, err := boot(ctx, cfg, client, i, boots > 1)
		if err != nil {
			return err
		}
		b.DNSQueries, b.DNSNames = queriesSince(dns, seen)
		res.Boots = append(res.Boots, *b)
	}
	return ctx.Err()
}

// boot starts etcd and the apiserver, watches the apiserver, and stops both: in order at the end
// of a run, or with SIGKILL (a power cut) between the boots of a soak.
func boot(ctx context.Context, cfg *sandboxConfig, client *http.Client, n int, powerCut bool) (*Boot, error) {
	phase("boot %d: starting etcd", n+1)
	etcd, err := startEtcd(ctx, cfg, fmt.Sprintf("etcd-%d.log", n+1))
	if err != nil {
		return nil, err
	}
	defer etcd.stop(stopGrace) // after the apiserver: stopped the other way round it hangs

	phase("boot %d: etcd ready, starting kube-apiserver", n+1)
	apiLog := filepath.Join(cfg.Work, fmt.Sprintf("kube-apiserver-%d.log", n+1))
	api, err := startApiserver(cfg, 0, apiLog)
	if err != nil {
		return nil, err
	}
	stall := stallEtcd(cfg.Profile.EtcdStallFor, etcd, api, func() bool {
		ok, failing := probe(ctx, client, cfg.PKI.Token, 0)
		return ok || len(failing) > 0
	})
	b := watch(ctx, cfg, client, api)
	b.EtcdStalledAfter, b.EtcdResumedAfter = stall.end()
	phase("boot %d: %s (ready %.1fs, exited %.1fs)", n+1, b.Outcome, b.ReadyAfter, b.ExitedAfter)
	if powerCut {
		api.kill()
		etcd.kill()
	} else {
		api.stop(stopGrace)
	}
	if b.ExitedAfter >= 0 {
		b.FatalLine = fatalLine(apiLog)
	}
	if b.Outcome != OutcomeReady {
		b.LogTail = tail(apiLog, 30)
	}
	return b, nil
}

// queriesSince counts the DNS queries after the seen-th, in all and by name/type.
func queriesSince(dns *dnshole.Server, seen int) (int, map[string]int) {
	names := map[string]int{}
	total := 0
	for _, q := range dns.Queries()[seen:] {
		total++
		names[strings.TrimSuffix(q.Name, ".")+"/"+q.Type]++
	}
	return total, names
}

// startEtcd starts the lab's etcd on its data directory and waits until it is healthy.
func startEtcd(ctx context.Context, cfg *sandboxConfig, logName string) (*process, error) {
	argv, err := withProfile(cfg.Profile, []string{cfg.Etcd,
		"--name=lab", "--data-dir=" + filepath.Join(cfg.Work, "etcd-data"),
		"--listen-client-urls=" + etcdClient, "--advertise-client-urls=" + etcdClient,
		"--listen-peer-urls=" + etcdPeer, "--initial-advertise-peer-urls=" + etcdPeer,
		"--initial-cluster=lab=" + etcdPeer, "--listen-metrics-urls=",
	})
	if err != nil {
		return nil, err
	}
	etcd, err := startProcess("etcd", argv, filepath.Join(cfg.Work, logName), godebugEnv(cfg.EtcdGODEBUG)...)
	if err != nil {
		return nil, err
	}
	if err := waitEtcd(ctx, etcd); err != nil {
		etcd.stop(stopGrace)
		return nil, err
	}
	return etcd, nil
}

// etcdStall freezes etcd while the apiserver runs; end resumes it.
type etcdStall struct {
	stop                       chan struct{}
	done                       chan struct{}
	stalledAfter, resumedAfter float64
}

// stallEtcd freezes etcd with SIGSTOP for d once the apiserver serves (answers /readyz at all:
// its listener accepts connections long before that), and resumes it with SIGCONT after d, when
// the apiserver exits, or at end: etcd is never left frozen.
func stallEtcd(d time.Duration, etcd, api *process, serving func() bool) *etcdStall {
	s := &etcdStall{stop: make(chan struct{}), done: make(chan struct{}), stalledAfter: -1, resumedAfter: -1}
	if d <= 0 {
		close(s.done)
		return s
	}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(probePeriod)
		defer tick.Stop()
		for !serving() {
			select {
			case <-s.stop:
				return
			case <-api.exited:
				return
			case <-tick.C:
			}
		}
		if err := etcd.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			return
		}
		s.stalledAfter = time.Since(api.started).Seconds()
		phase("etcd frozen at %.1fs for %v", s.stalledAfter, d)
		resume := time.NewTimer(d)
		defer resume.Stop()
		select {
		case <-resume.C:
		case <-s.stop:
		case <-api.exited:
		}
		_ = etcd.cmd.Process.Signal(syscall.SIGCONT)
		s.resumedAfter = time.Since(api.started).Seconds()
		phase("etcd resumed at %.1fs", s.resumedAfter)
	}()
	return s
}

// end resumes etcd if it is still frozen and returns when it was frozen and resumed.
func (s *etcdStall) end() (stalledAfter, resumedAfter float64) {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	return s.stalledAfter, s.resumedAfter
}

// apiserverAddr is where the i-th apiserver of a sandbox listens and advertises itself.
func apiserverAddr(i int) (ip, port string) {
	return fmt.Sprintf("192.0.2.%d", 10+i), fmt.Sprint(6443 + i)
}

// startApiserver starts the i-th apiserver of the sandbox.
func startApiserver(cfg *sandboxConfig, i int, logPath string) (*process, error) {
	ip, port := apiserverAddr(i)
	prefix, err := withProfile(cfg.Profile, cfg.Apiserver)
	if err != nil {
		return nil, err
	}
	return startProcess("kube-apiserver", append(append([]string{}, prefix...),
		"--etcd-servers="+etcdClient,
		"--bind-address=0.0.0.0", "--secure-port="+port, "--advertise-address="+ip,
		"--tls-cert-file="+cfg.PKI.ServingCert, "--tls-private-key-file="+cfg.PKI.ServingKey,
		"--client-ca-file="+cfg.PKI.CACert, "--token-auth-file="+cfg.PKI.TokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+cfg.PKI.SAPub, "--service-account-signing-key-file="+cfg.PKI.SAKey,
		"--service-cluster-ip-range=10.96.0.0/16",
	), logPath, godebugEnv(cfg.GODEBUG)...)
}

// godebugEnv is the environment that sets a process's GODEBUG, when one is asked for.
func godebugEnv(godebug string) []string {
	if godebug == "" {
		return nil
	}
	return []string{"GODEBUG=" + godebug}
}

// PhasePrefix marks the sandbox init's lines that say what a boot is doing; the parent shows
// them as progress (the rest of the init's output only goes to sandbox.log).
const PhasePrefix = "hk-lab-phase: "

// phaseEvery spaces the "waiting for /readyz" lines of one boot.
const phaseEvery = 5 * time.Second

func phase(format string, args ...any) {
	fmt.Fprintf(os.Stderr, PhasePrefix+format+"\n", args...)
}

// watch probes /readyz until the apiserver is ready, exits or the deadline passes, then keeps
// watching it for cfg.Hold after ready. With cfg.TermAfter it sends SIGTERM at that time and
// watches the exit instead; with cfg.IPv6OffAfterReady it disables IPv6 while the server runs.
func watch(ctx context.Context, cfg *sandboxConfig, client *http.Client, api *process) *Boot {
	b := newBoot()
	deadline := time.NewTimer(cfg.Deadline)
	defer deadline.Stop()
	tick := time.NewTicker(probePeriod)
	defer tick.Stop()
	var term <-chan time.Time
	termAt := api.started.Add(cfg.TermAfter)
	if cfg.TermAfter > 0 {
		t := time.NewTimer(time.Until(termAt))
		defer t.Stop()
		term = t.C
	}
	var readyAt, ipv6OffAt time.Time
	lastPhase := time.Now()
	for {
		select {
		case <-api.exited:
			b.Outcome = OutcomeExited
			b.ExitedAfter = api.exitAt.Sub(api.started).Seconds()
			b.ExitCode = api.exitCode()
			if !readyAt.IsZero() {
				b.AliveAfterReady = api.exitAt.Sub(readyAt).Seconds()
			}
			return b
		case <-ctx.Done():
			b.Outcome = OutcomeNotReady
			if !readyAt.IsZero() {
				b.Outcome = OutcomeReady
				b.AliveAfterReady = time.Since(readyAt).Seconds()
			}
			return b
		case <-term:
			// From here on only the exit ends the watch (or the sandbox's stop).
			_ = api.cmd.Process.Signal(syscall.SIGTERM)
			b.TermSentAfter = time.Since(api.started).Seconds()
			term = nil
			deadline.Stop()
			continue
		case <-deadline.C:
			if readyAt.IsZero() {
				b.Outcome = OutcomeNotReady
				b.LoopbackHost = loopbackHost()
				return b
			}
		case <-tick.C:
		}
		if b.TermSentAfter >= 0 {
			continue
		}
		if readyAt.IsZero() {
			// A probe of a server on a stalled etcd takes its whole timeout: one that would
			// outlast a due SIGTERM is cut short, so the signal goes out on time.
			probeCtx, cancel := ctx, context.CancelFunc(func() {})
			if term != nil {
				probeCtx, cancel = context.WithDeadline(ctx, termAt)
			}
			ok, failing := probe(probeCtx, client, cfg.PKI.Token, 0)
			cancel()
			if ok {
				readyAt = time.Now()
				b.ReadyAfter = readyAt.Sub(api.started).Seconds()
				b.LoopbackHost = loopbackHost()
				if err := readLoopbackCert(b); err != nil {
					phase("%v", err) // not the apiserver's failure: the fields stay empty
				}
			} else if len(failing) > 0 {
				b.NotReadyChecks = failing
				if time.Since(lastPhase) >= phaseEvery {
					phase("waiting for /readyz (%.0fs): failing %s", time.Since(api.started).Seconds(), strings.Join(failing, ", "))
					lastPhase = time.Now()
				}
			}
		}
		if cfg.IPv6OffAfterReady > 0 && !readyAt.IsZero() && ipv6OffAt.IsZero() && time.Since(readyAt) >= cfg.IPv6OffAfterReady {
			if err := sandbox.DisableIPv6(); err != nil {
				b.Note = err.Error()
			}
			ipv6OffAt = time.Now()
			b.IPv6OffAfter = ipv6OffAt.Sub(api.started).Seconds()
		}
		if term == nil && !readyAt.IsZero() && time.Since(readyAt) >= cfg.Hold {
			b.Outcome = OutcomeReady
			b.AliveAfterReady = time.Since(readyAt).Seconds()
			if !ipv6OffAt.IsZero() {
				b.LoopbackHostAfterIPv6Off = loopbackHost()
				renewed, err := identityLeaseRenewedSince(client, cfg.PKI.Token, ipv6OffAt)
				if err != nil {
					b.Note = err.Error()
				}
				b.LeaseRenewedAfterIPv6Off = renewed
			}
			return b
		}
	}
}

// identityLeaseRenewedSince reports whether the apiserver's identity lease, which its
// loopback client renews every 10 s, was renewed after t.
func identityLeaseRenewedSince(client *http.Client, token string, t time.Time) (bool, error) {
	req, err := http.NewRequest(http.MethodGet, "https://"+net.JoinHostPort(advertiseIP, securePort)+
		"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases?labelSelector=apiserver.kubernetes.io%2Fidentity%3Dkube-apiserver", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("list identity leases: %w", err)
	}
	defer resp.Body.Close()
	var list struct {
		Items []struct {
			Spec struct {
				RenewTime time.Time `json:"renewTime"`
			} `json:"spec"`
		} `json:"items"`
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("list identity leases: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return false, fmt.Errorf("list identity leases: %w", err)
	}
	if len(list.Items) == 0 {
		return false, errors.New("no identity lease of kube-apiserver")
	}
	for _, l := range list.Items {
		if l.Spec.RenewTime.After(t) {
			return true, nil
		}
	}
	return false, nil
}

func waitEtcd(ctx context.Context, etcd *process) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if !etcd.running() {
			return fmt.Errorf("etcd exited: %s", fatalLine(etcd.logPath))
		}
		if resp, err := client.Get(etcdClient + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("etcd not healthy after 60s: %s", fatalLine(etcd.logPath))
}

func probeClient(files pki.Files) (*http.Client, error) {
	ca, err := os.ReadFile(files.CACert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s", files.CACert)
	}
	return &http.Client{
		Timeout: probeTimeout,
		// The probe dials the advertised address, never 127.0.0.1 or ::1, so that every
		// loopback connection in the TCP table is the apiserver's own.
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
	}, nil
}

// probe asks the i-th apiserver's /readyz?verbose; it returns whether it answered 200 and the
// failing checks if not.
func probe(ctx context.Context, client *http.Client, token string, i int) (bool, []string) {
	ip, port := apiserverAddr(i)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+net.JoinHostPort(ip, port)+"/readyz?verbose", nil)
	if err != nil {
		return false, nil
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return false, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusOK {
		return true, nil
	}
	var failing []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "[-]") {
			name, _, _ := strings.Cut(strings.TrimPrefix(l, "[-]"), " ")
			failing = append(failing, name)
		}
	}
	return false, failing
}

// readLoopbackCert records the lifetime of the certificate the apiserver serves to its own
// loopback client: an in-memory certificate, selected by the SNI name the client sends. Releases
// before kubernetes#130047 sign it for one year, after which the loopback client fails.
func readLoopbackCert(b *Boot) error {
	_, port := apiserverAddr(0)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: probeTimeout}, "tcp", net.JoinHostPort("127.0.0.1", port),
		&tls.Config{ServerName: "apiserver-loopback-client", InsecureSkipVerify: true}) // #nosec G402 -- only read, never trusted
	if err != nil {
		return fmt.Errorf("read the loopback certificate: %w", err)
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return errors.New("read the loopback certificate: none served")
	}
	c := certs[0]
	b.LoopbackCertDays = c.NotAfter.Sub(c.NotBefore).Hours() / 24
	b.LoopbackCertNotAfter = c.NotAfter.UTC().Format(time.RFC3339)
	return nil
}

// loopbackHost reads the sandbox's TCP tables for established connections to the secure port
// on a loopback address: the apiserver's client to itself.
func loopbackHost() string {
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != "01" { // 01 = ESTABLISHED
				continue
			}
			ip, port, ok := parseProcAddr(f[2]) // remote address
			if ok && port == 6443 && ip.IsLoopback() {
				if v4 := ip.To4(); v4 != nil {
					return v4.String()
				}
				return ip.String()
			}
		}
	}
	return "none"
}

// parseProcAddr decodes "0100007F:192B" (IPv4) or a 32-hex-digit IPv6 address, both stored as
// host-endian 32-bit words.
func parseProcAddr(s string) (net.IP, int, bool) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return nil, 0, false
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, 0, false
	}
	ip := make(net.IP, len(raw))
	for w := 0; w < len(raw); w += 4 {
		ip[w], ip[w+1], ip[w+2], ip[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	var port int
	if _, err := fmt.Sscanf(hexPort, "%X", &port); err != nil {
		return nil, 0, false
	}
	return ip, port, true
}
