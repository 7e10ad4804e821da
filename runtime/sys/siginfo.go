package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// SiginfoChild decodes the child fields of a SIGCHLD siginfo: the pid, the
// si_code (CLD_EXITED, CLD_KILLED, ...) and the status (exit code or signal).
// x/sys/unix's Siginfo leaves the union opaque, so the offsets come from
// the kernel's layout for each word size (siginfo_64.go, siginfo_32.go):
// a build for an architecture with another layout (mips puts si_code
// before si_errno) fails to compile instead of decoding garbage.
func SiginfoChild(info *unix.Siginfo) (pid int, code int, status int) {
	raw := (*[unsafe.Sizeof(unix.Siginfo{})]byte)(unsafe.Pointer(info))
	code = int(*(*int32)(unsafe.Pointer(&raw[siCodeOff])))
	pid = int(*(*int32)(unsafe.Pointer(&raw[siPidOff])))
	status = int(*(*int32)(unsafe.Pointer(&raw[siStatusOff])))
	return
}
