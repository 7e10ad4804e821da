//go:build linux && (amd64 || arm64 || ppc64 || ppc64le || riscv64 || s390x || loong64)

package sys

// siginfo_t on 64-bit Linux: si_signo, si_errno, si_code (3 int32), 4
// bytes of padding that align the union to 8, then _sigchld's pid
// (int32), uid (uint32), status (int32).
const (
	siCodeOff   = 8
	siPidOff    = 16
	siStatusOff = 24
)
