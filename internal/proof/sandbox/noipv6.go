package sandbox

import (
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"
)

// ExecWithoutIPv6 replaces the process with argv under a seccomp filter that fails every
// socket(AF_INET6, …) with EAFNOSUPPORT: what a host booted with ipv6.disable=1 answers, where
// not even a socket of the family can be made (disable_ipv6=1 removes addresses, not the family).
// It returns only on failure.
func ExecWithoutIPv6(argv []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("no command to run without IPv6")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("no seccomp audit architecture known for %s", runtime.GOARCH)
	}
	// Offsets in struct seccomp_data: nr at 0, arch at 4, args[0] (low half, little-endian) at 16.
	const (
		ldW   = 0x20 // BPF_LD | BPF_W | BPF_ABS
		jeqK  = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
		retK  = 0x06 // BPF_RET | BPF_K
		allow = 0x7fff0000
		errno = 0x00050000 // SECCOMP_RET_ERRNO
	)
	filter := []sockFilter{
		{ldW, 0, 0, 4},                           // A = arch
		{jeqK, 0, 4, arch},                       // another ABI: allow
		{ldW, 0, 0, 0},                           // A = syscall number
		{jeqK, 0, 2, uint32(syscall.SYS_SOCKET)}, // not socket(2): allow
		{ldW, 0, 0, 16},                          // A = domain
		{jeqK, 1, 0, syscall.AF_INET6},           // AF_INET6: refuse
		{retK, 0, 0, allow},                      //
		{retK, 0, 0, errno | uint32(syscall.EAFNOSUPPORT)}, //
	}
	prog := sockFprog{len: uint16(len(filter)), filter: &filter[0]}

	// The filter belongs to the calling thread, which then execs: keep both on one thread.
	runtime.LockOSThread()
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetSeccomp, seccompModeFilter, uintptr(unsafe.Pointer(&prog))); e != 0 {
		return fmt.Errorf("prctl(PR_SET_SECCOMP): %w", e)
	}
	return syscall.Exec(path, argv, syscall.Environ())
}

const (
	prSetNoNewPrivs   = 38
	prSetSeccomp      = 22
	seccompModeFilter = 2
)

// auditArch is AUDIT_ARCH_* of <linux/audit.h> for the architectures we build.
var auditArch = map[string]uint32{
	"amd64": 0xc000003e,
	"arm64": 0xc00000b7,
}

// sockFilter and sockFprog are struct sock_filter and struct sock_fprog of <linux/filter.h>.
type sockFilter struct {
	code uint16
	jt   uint8
	jf   uint8
	k    uint32
}

type sockFprog struct {
	len    uint16
	filter *sockFilter
}
