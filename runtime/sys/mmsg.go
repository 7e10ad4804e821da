package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxMmsgBatch is UIO_MAXIOV: sendmmsg(2) and recvmmsg(2) silently take at
// most this many headers per call.
const MaxMmsgBatch = 1024

// SendmmsgDontwait is sendmmsg(2) with MSG_DONTWAIT added to flags: it
// returns how many headers the kernel took (each one's Len is the bytes it
// sent), or EAGAIN when it took none. The headers' iovecs and control
// buffers are Go memory the caller keeps alive; like SendmsgDontwait it
// goes through RawSyscall, since a call that cannot block needs no
// entersyscall.
func SendmmsgDontwait(fd int, hs []unix.Mmsghdr, flags int) (int, error) {
	return mmsgDontwait("sendmmsg", unix.SYS_SENDMMSG, fd, hs, flags)
}

// RecvmmsgDontwait is recvmmsg(2) with MSG_DONTWAIT added to flags and no
// timeout: it returns how many headers were filled (each one's Len, and
// its Hdr's Controllen and Flags, set by the kernel), or EAGAIN when
// nothing was queued. An error after the first message is kept by the
// kernel for the next call, so nothing received is dropped here.
func RecvmmsgDontwait(fd int, hs []unix.Mmsghdr, flags int) (int, error) {
	return mmsgDontwait("recvmmsg", unix.SYS_RECVMMSG, fd, hs, flags)
}

// mmsgDontwait is either call: at most MaxMmsgBatch headers, EINTR
// retried, EAGAIN bare (the common "would block": no error value to
// build), any other error named.
func mmsgDontwait(op string, trap uintptr, fd int, hs []unix.Mmsghdr, flags int) (int, error) {
	if len(hs) == 0 {
		return 0, nil
	}
	if len(hs) > MaxMmsgBatch {
		hs = hs[:MaxMmsgBatch]
	}
	for {
		n, _, e := unix.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), uintptr(flags|unix.MSG_DONTWAIT), 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, e
		}
		return 0, wrapFd(op, fd, e)
	}
}
