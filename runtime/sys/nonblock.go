package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The per-message calls of sendfds and recvfds always pass MSG_DONTWAIT,
// so they cannot block: they go through RawSyscall, without telling the
// Go scheduler a thread may be lost to the kernel (entersyscall and
// exitsyscall cost a good part of a small message), and they build the
// msghdr themselves: no peer address is asked for or converted (x/sys's
// Recvmsg allocates one per call) and nothing escapes to the heap.
// The msghdr setup is written out in both calls on purpose: a shared
// helper taking &iov makes iov escape (one allocation per message).

// SendmsgDontwait is sendmsg(2) with MSG_DONTWAIT added to flags. Unlike
// Sendmsg it sends exactly p: a caller passing descriptors with no data on
// a socket that needs a byte supplies the byte.
func SendmsgDontwait(fd int, p, oob []byte, flags int) (int, error) {
	var msg unix.Msghdr
	var iov unix.Iovec
	if len(p) > 0 {
		iov.Base = &p[0]
		iov.SetLen(len(p))
		msg.Iov = &iov
		msg.Iovlen = 1
	}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	for {
		n, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags|unix.MSG_DONTWAIT))
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, e // the common "would block": no error value to build
		}
		return 0, wrapFd("sendmsg", fd, e)
	}
}

// RecvmsgDontwait is recvmsg(2) with MSG_DONTWAIT added to flags, without
// the sender's address.
func RecvmsgDontwait(fd int, p, oob []byte, flags int) (n, oobn, recvflags int, err error) {
	var msg unix.Msghdr
	var iov unix.Iovec
	if len(p) > 0 {
		iov.Base = &p[0]
		iov.SetLen(len(p))
		msg.Iov = &iov
		msg.Iovlen = 1
	}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags|unix.MSG_DONTWAIT))
		switch e {
		case 0:
			return int(r), int(msg.Controllen), int(msg.Flags), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, 0, 0, e // the common "would block": no error value to build
		}
		return 0, 0, 0, wrapFd("recvmsg", fd, e)
	}
}
