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
