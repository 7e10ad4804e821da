//go:build linux && (386 || arm)

package sys

// siginfo_t on 32-bit Linux (i386, arm): si_signo, si_errno, si_code (3
// int32), then, with no padding, _sigchld's pid, uid and status.
const (
	siCodeOff   = 8
	siPidOff    = 12
	siStatusOff = 20
)
