package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Unnamed reports whether fd's own (peer false) or peer's address is an
// unnamed unix address: the kernel returns only sa_family, which x/sys
// cannot tell from the empty abstract name (both decode as "@").
func Unnamed(fd int, peer bool) (bool, error) {
	var rsa unix.RawSockaddrAny
	l := uint32(unsafe.Sizeof(rsa))
	trap, op := uintptr(unix.SYS_GETSOCKNAME), "getsockname"
	if peer {
		trap, op = unix.SYS_GETPEERNAME, "getpeername"
	}
	_, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return false, Wrap(op, FdAddr(fd), e)
	}
	return rsa.Addr.Family == unix.AF_UNIX && l == uint32(unsafe.Sizeof(rsa.Addr.Family)), nil
}

// Kcmp reports whether descriptor fd1 of pid1 and fd2 of pid2 are the same
// open file description (kcmp KCMP_FILE), which an inode comparison cannot
// tell: both ends of a pipe share one inode, a dup shares the description.
func Kcmp(pid1, fd1, pid2, fd2 int) (bool, error) {
	const kcmpFile = 0
	r, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(pid1), uintptr(pid2), kcmpFile, uintptr(fd1), uintptr(fd2), 0)
	if e != 0 {
		return false, Wrap("kcmp", "", e)
	}
	return r == 0, nil
}
