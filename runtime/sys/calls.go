package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Every wrapper below retries EINTR here and nowhere else.
// wrapFd is Wrap for a descriptor, formatting its address only on failure:
// the per-message calls (close, read, write, sendmsg, recvmsg) allocated
// the "fd N" string on every success.
func wrapFd(op string, fd int, err error) error {
	if err == nil {
		return nil
	}
	return Wrap(op, FdAddr(fd), err)
}

func retry(f func() error) error {
	for {
		err := f()
		if err != unix.EINTR {
			return err
		}
	}
}

func retryFd(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}

// Close closes fd. EINTR is not retried: on Linux the fd is gone anyway.
func Close(fd int) error {
	return wrapFd("close", fd, unix.Close(fd))
}

// Pipe2 makes a close-on-exec pipe (flags may add O_DIRECT or O_NONBLOCK).
func Pipe2(flags int) (r, w int, err error) {
	var p [2]int
	err = unix.Pipe2(p[:], flags|unix.O_CLOEXEC)
	if err != nil {
		return -1, -1, Wrap("pipe", "", err)
	}
	return p[0], p[1], nil
}

// Openat opens path relative to dirfd, always close-on-exec.
func Openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	fd, err := retryFd(func() (int, error) { return unix.Openat(dirfd, path, flags|unix.O_CLOEXEC, mode) })
	return fd, Wrap("open", path, err)
}

// DupCloexec duplicates fd to the lowest free number, close-on-exec.
func DupCloexec(fd int) (int, error) {
	n, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	return n, Wrap("dup", FdAddr(fd), err)
}

// MemfdCreate makes a close-on-exec memfd.
func MemfdCreate(name string, flags int) (int, error) {
	fd, err := unix.MemfdCreate(name, flags|unix.MFD_CLOEXEC)
	return fd, Wrap("memfd_create", name, err)
}

// Eventfd makes a close-on-exec eventfd.
func Eventfd(initval uint, flags int) (int, error) {
	fd, err := unix.Eventfd(initval, flags|unix.EFD_CLOEXEC)
	return fd, Wrap("eventfd", "", err)
}

// Read reads once into p.
func Read(fd int, p []byte) (int, error) {
	n, err := retryFd(func() (int, error) { return unix.Read(fd, p) })
	return n, wrapFd("read", fd, err)
}

// Write writes once from p.
func Write(fd int, p []byte) (int, error) {
	n, err := retryFd(func() (int, error) { return unix.Write(fd, p) })
	return n, wrapFd("write", fd, err)
}

// Poll waits for events; EINTR is reported as zero ready descriptors so
// that the caller recomputes its deadlines.
func Poll(fds []unix.PollFd, timeoutMs int) (int, error) {
	n, err := unix.Poll(fds, timeoutMs)
	if err == unix.EINTR {
		return 0, nil
	}
	return n, Wrap("poll", "", err)
}

// Fstat stats fd.
func Fstat(fd int, st *unix.Stat_t) error {
	return Wrap("fstat", FdAddr(fd), unix.Fstat(fd, st))
}

// Readlink reads a symbolic link such as /proc/self/fd/N.
func Readlink(path string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlink(path, buf)
	if err != nil {
		return "", Wrap("readlink", path, err)
	}
	return string(buf[:n]), nil
}

// GetFdFlags returns the FD_* flags (FD_CLOEXEC).
func GetFdFlags(fd int) (int, error) {
	n, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return n, Wrap("fcntl F_GETFD", FdAddr(fd), err)
}

// SetFdFlags sets the FD_* flags.
func SetFdFlags(fd, flags int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags)
	return Wrap("fcntl F_SETFD", FdAddr(fd), err)
}

// GetFl returns the open file status flags (O_*), shared by the whole
// open file description.
func GetFl(fd int) (int, error) {
	n, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	return n, Wrap("fcntl F_GETFL", FdAddr(fd), err)
}

// SetFl sets the open file status flags.
func SetFl(fd, flags int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags)
	return Wrap("fcntl F_SETFL", FdAddr(fd), err)
}

// CloseRange closes every descriptor from first to last (close_range(2)
// with no flags). Unlike close(2) it reports no error of an individual
// close (such as a file system's write-back EIO).
func CloseRange(first, last int) error {
	return Wrap("close_range", FdAddr(first), unix.CloseRange(uint(first), uint(last), 0))
}

// CloseRangeCloexec marks every descriptor from first up close-on-exec.
func CloseRangeCloexec(first uint) error {
	return Wrap("close_range", "", unix.CloseRange(first, ^uint(0), unix.CLOSE_RANGE_CLOEXEC))
}

// Socket makes a close-on-exec socket.
func Socket(domain, typ, proto int) (int, error) {
	fd, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
	return fd, Wrap("socket", "", err)
}

// Socketpair makes a close-on-exec pair of connected sockets.
func Socketpair(domain, typ, proto int) (int, int, error) {
	p, err := unix.Socketpair(domain, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, -1, Wrap("socketpair", "", err)
	}
	return p[0], p[1], nil
}

// Bind binds fd to sa; addr names it in errors.
func Bind(fd int, sa unix.Sockaddr, addr string) error {
	return Wrap("bind", addr, unix.Bind(fd, sa))
}

// Listen marks fd as a listening socket.
func Listen(fd, backlog int) error {
	return Wrap("listen", FdAddr(fd), unix.Listen(fd, backlog))
}

// Accept4 accepts a connection as a close-on-exec socket. EAGAIN (a
// non-blocking listener with nothing pending: the normal case for a
// server, not a failure) comes back as the bare errno, without building
// an error value. The peer's address is converted here rather than by
// x/sys, which asks the listener for SO_PROTOCOL on every inet accept
// (to tell L2TP/IP apart, a datagram protocol nothing accepts on).
func Accept4(fd int, flags int) (int, unix.Sockaddr, error) {
	return accept4(fd, flags, false)
}

// Accept4Nonblock is Accept4 on a listener whose description is
// O_NONBLOCK, so the call cannot wait: it is made with RawSyscall (no
// hand-off of the thread to the Go scheduler).
func Accept4Nonblock(fd int, flags int) (int, unix.Sockaddr, error) {
	return accept4(fd, flags, true)
}

func accept4(fd, flags int, raw bool) (int, unix.Sockaddr, error) {
	var rsa unix.RawSockaddrAny
	for {
		l := uint32(unix.SizeofSockaddrAny)
		var r uintptr
		var e unix.Errno
		if raw {
			r, _, e = unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)), uintptr(flags|unix.SOCK_CLOEXEC), 0, 0)
		} else {
			r, _, e = unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)), uintptr(flags|unix.SOCK_CLOEXEC), 0, 0)
		}
		switch e {
		case 0:
			return int(r), peerSockaddr(&rsa, l), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return -1, nil, e
		}
		return -1, nil, Wrap("accept", FdAddr(fd), e)
	}
}

// peerSockaddr converts the address accept(2) wrote (l bytes of it) for
// the families a listener serves; nil for any other (or none).
func peerSockaddr(rsa *unix.RawSockaddrAny, l uint32) unix.Sockaddr {
	if l < 2 {
		return nil
	}
	switch rsa.Addr.Family {
	case unix.AF_INET:
		pp := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&pp.Port))
		return &unix.SockaddrInet4{Port: int(p[0])<<8 | int(p[1]), Addr: pp.Addr}
	case unix.AF_INET6:
		pp := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&pp.Port))
		return &unix.SockaddrInet6{Port: int(p[0])<<8 | int(p[1]), ZoneId: pp.Scope_id, Addr: pp.Addr}
	case unix.AF_UNIX:
		pp := (*unix.RawSockaddrUnix)(unsafe.Pointer(rsa))
		// l counts the family and the bytes of the name the kernel wrote;
		// an unnamed peer (the usual client) has none.
		n := int(l) - 2
		if n <= 0 {
			return &unix.SockaddrUnix{}
		}
		if n > len(pp.Path) {
			n = len(pp.Path)
		}
		b := unsafe.Slice((*byte)(unsafe.Pointer(&pp.Path[0])), n)
		prefix := ""
		if b[0] == 0 {
			// abstract: shown with a leading @, as x/sys and ss do
			prefix, b = "@", b[1:]
		}
		for i, c := range b { // up to a NUL, as x/sys reads it
			if c == 0 {
				b = b[:i]
				break
			}
		}
		return &unix.SockaddrUnix{Name: prefix + string(b)}
	}
	return nil
}

// Connect connects fd to sa. EINTR is not retried: the connection goes on
// in the background and the caller waits for writability instead.
func Connect(fd int, sa unix.Sockaddr, addr string) error {
	return Wrap("connect", addr, unix.Connect(fd, sa))
}

// Shutdown shuts down part of a full-duplex connection.
func Shutdown(fd, how int) error {
	return Wrap("shutdown", FdAddr(fd), unix.Shutdown(fd, how))
}

// Sendmsg sends p with control data oob.
func Sendmsg(fd int, p, oob []byte, to unix.Sockaddr, flags int) (int, error) {
	n, err := retryFd(func() (int, error) { return unix.SendmsgN(fd, p, oob, to, flags) })
	return n, wrapFd("sendmsg", fd, err)
}

// Recv receives into p (recvfrom without the address).
func Recv(fd int, p []byte, flags int) (int, error) {
	var n int
	err := retry(func() error {
		var e error
		n, _, e = unix.Recvfrom(fd, p, flags)
		return e
	})
	if err != nil {
		return 0, Wrap("read", FdAddr(fd), err)
	}
	return n, nil
}

// Send sends p on a socket (a write with flags such as MSG_DONTWAIT).
func Send(fd int, p []byte, flags int) (int, error) {
	n, err := retryFd(func() (int, error) { return unix.SendmsgN(fd, p, nil, nil, flags) })
	if err != nil {
		return 0, Wrap("write", FdAddr(fd), err)
	}
	return n, nil
}

// Splice moves up to n bytes from in to out inside the kernel; one of
// them must be a pipe. Offsets are not used: each side's own file offset
// moves, as with read and write.
func Splice(in, out, n, flags int) (int, error) {
	var moved int64
	err := retry(func() error {
		var e error
		moved, e = unix.Splice(in, nil, out, nil, n, flags)
		return e
	})
	if err != nil {
		return 0, Wrap("splice", FdAddr(in)+" to "+FdAddr(out), err)
	}
	return int(moved), nil
}

// Recvmsg receives into p with control data into oob.
func Recvmsg(fd int, p, oob []byte, flags int) (n, oobn, recvflags int, from unix.Sockaddr, err error) {
	err = retry(func() error {
		var e error
		n, oobn, recvflags, from, e = unix.Recvmsg(fd, p, oob, flags)
		return e
	})
	return n, oobn, recvflags, from, wrapFd("recvmsg", fd, err)
}

// Getsockname returns the local address of fd.
func Getsockname(fd int) (unix.Sockaddr, error) {
	sa, err := unix.Getsockname(fd)
	return sa, Wrap("getsockname", FdAddr(fd), err)
}

// Getpeername returns the peer address of fd.
func Getpeername(fd int) (unix.Sockaddr, error) {
	sa, err := unix.Getpeername(fd)
	return sa, Wrap("getpeername", FdAddr(fd), err)
}

// GetsockoptInt reads an integer socket option.
func GetsockoptInt(fd, level, opt int, name string) (int, error) {
	v, err := unix.GetsockoptInt(fd, level, opt)
	return v, Wrap("getsockopt "+name, FdAddr(fd), err)
}

// SetsockoptInt sets an integer socket option.
func SetsockoptInt(fd, level, opt, value int, name string) error {
	return Wrap("setsockopt "+name, FdAddr(fd), unix.SetsockoptInt(fd, level, opt, value))
}

// GetsockoptUcred reads SO_PEERCRED.
func GetsockoptUcred(fd int) (*unix.Ucred, error) {
	c, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	return c, Wrap("getsockopt SO_PEERCRED", FdAddr(fd), err)
}

// PidfdOpen returns a pidfd (always close-on-exec) for pid.
func PidfdOpen(pid, flags int) (int, error) {
	fd, err := unix.PidfdOpen(pid, flags)
	return fd, Wrap("pidfd_open", pidAddr(pid), err)
}

// PidfdGetfd duplicates targetfd of the process behind pidfd into this
// one, close-on-exec; the copy shares the target's open file description.
func PidfdGetfd(pidfd, targetfd int, addr string) (int, error) {
	fd, err := unix.PidfdGetfd(pidfd, targetfd, 0)
	return fd, Wrap("pidfd_getfd", addr, err)
}

// PidfdSendSignal signals the process behind pidfd.
func PidfdSendSignal(pidfd int, sig unix.Signal, addr string) error {
	return Wrap("pidfd_send_signal", addr, unix.PidfdSendSignal(pidfd, sig, nil, 0))
}

// WaitidPidfd waits for (or with WNOHANG polls) the child behind pidfd.
func WaitidPidfd(pidfd int, info *unix.Siginfo, options int, addr string) error {
	return Wrap("waitid", addr, retry(func() error {
		return unix.Waitid(unix.P_PIDFD, pidfd, info, options, nil)
	}))
}

// Prctl calls prctl(2).
func Prctl(option int, arg2 uintptr, name string) error {
	return Wrap("prctl "+name, "", unix.Prctl(option, arg2, 0, 0, 0))
}

func pidAddr(pid int) string { return "pid " + itoa(pid) }

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
