// Package sock makes, binds, connects and accepts sockets of the unix,
// inet and inet6 families, all close-on-exec from birth. Operations that
// may wait come in Try form (returning EAGAIN instead of blocking) so that
// a cooperative scheduler can poll for readiness; none of them sets
// O_NONBLOCK on a description that another process may share.
package sock

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// DomainByName maps the names scripts use ("unix", "inet", "inet6") to
// AF_* values.
func DomainByName(s string) (int, bool) {
	switch s {
	case "unix":
		return unix.AF_UNIX, true
	case "inet":
		return unix.AF_INET, true
	case "inet6":
		return unix.AF_INET6, true
	}
	return 0, false
}

// ParseType maps "stream", "dgram", "seqpacket" to SOCK_* values.
func ParseType(s string) (int, error) {
	if t, ok := fdio.TypeByName(s); ok && s != "raw" {
		return t, nil
	}
	return 0, sys.Errorf("socket", "", unix.EINVAL, "unknown socket type %q (stream, dgram or seqpacket)", s)
}

// Socket makes a socket.
func Socket(domain, typ int) (*fdio.FD, error) {
	n, err := sys.Socket(domain, typ, 0)
	if err != nil {
		return nil, err
	}
	return fdio.Own(n), nil
}

// Pair makes a connected pair of unix sockets.
func Pair(typ int) (*fdio.FD, *fdio.FD, error) {
	a, b, err := sys.Socketpair(unix.AF_UNIX, typ, 0)
	if err != nil {
		return nil, nil, err
	}
	return fdio.Own(a), fdio.Own(b), nil
}

// Bind binds s to a.
func Bind(s *fdio.FD, a addr.Addr) error {
	n, err := s.Num()
	if err != nil {
		return err
	}
	if a.Kind == addr.FD {
		return sys.Errorf("bind", a.String(), unix.EINVAL, "fd:N names an existing socket; it cannot be bound to")
	}
	if LongPath(a) {
		return bindLong(n, a) // longpath.go
	}
	sa, err := a.Sockaddr()
	if err != nil {
		return sys.Errorf("bind", a.String(), unix.ENAMETOOLONG, "%v", err)
	}
	if a.Kind == addr.TCP || a.Kind == addr.TCP6 {
		// Restarting a server must not wait out TIME_WAIT.
		sys.SetsockoptInt(n, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1, "SO_REUSEADDR")
	}
	return sys.Bind(n, sa, a.String())
}

// Listen marks s as listening.
func Listen(s *fdio.FD, backlog int) error {
	n, err := s.Num()
	if err != nil {
		return err
	}
	if backlog <= 0 {
		backlog = unix.SOMAXCONN
	}
	return sys.Listen(n, backlog)
}

// TryAccept accepts one pending connection, or returns EAGAIN when none
// is pending. accept(2) has no per-call "do not wait" flag, so on a
// listener whose description is blocking (and may be shared: the runtime
// never flips O_NONBLOCK behind anyone's back) it polls first. A listener
// this runtime made non-blocking itself (Fd:nonblock(true)) is accepted
// on directly, and EAGAIN means none is pending: no poll per connection
// (docs/decisions.md, "Accept without a poll").
func TryAccept(l *fdio.FD) (*fdio.FD, error) {
	c, _, err := TryAcceptFrom(l)
	return c, err
}

// TryAcceptFrom is TryAccept that also returns the peer's address as
// accept(2) reported it (nil when the kernel gave none).
func TryAcceptFrom(l *fdio.FD) (*fdio.FD, unix.Sockaddr, error) {
	n, nonblock, err := l.NumNonblock()
	if err != nil {
		return nil, nil, err
	}
	if nonblock {
		c, sa, err := sys.Accept4Nonblock(n, 0)
		if err != nil {
			return nil, nil, err // EAGAIN included: the caller waits for POLLIN
		}
		return fdio.Own(c), sa, nil
	}
	rev, err := fdio.Ready(n, unix.POLLIN)
	if err != nil {
		return nil, nil, err
	}
	if rev&unix.POLLNVAL != 0 {
		return nil, nil, sys.Wrap("accept", sys.FdAddr(n), unix.EBADF)
	}
	if rev == 0 {
		return nil, nil, fdio.ErrAgain
	}
	c, sa, err := sys.Accept4(n, 0)
	if err != nil {
		return nil, nil, err
	}
	return fdio.Own(c), sa, nil
}

// Dial starts connecting a fresh socket of type typ to a. The socket is
// private until Dial returns, so it is made non-blocking for the connect
// and restored to blocking before anyone else can see it. When pending is
// true the caller waits for POLLOUT and calls FinishDial.
func Dial(typ int, a addr.Addr) (s *fdio.FD, pending bool, err error) {
	if viaProc(a) {
		return dialLong(typ, a) // longpath.go
	}
	sa, err := connectTarget(a)
	if err != nil {
		return nil, false, err
	}
	return dialWith(a.Domain(), typ, func(n int) error { return sys.Connect(n, sa, a.String()) })
}

// dialWith is the non-blocking connect dance shared by every Dial form:
// a fresh private socket, connect, and either done (restored to
// blocking), pending (inet: wait for POLLOUT, then FinishDial) or failed.
func dialWith(domain, typ int, connect func(n int) error) (*fdio.FD, bool, error) {
	n, err := sys.Socket(domain, typ|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, false, err
	}
	s := fdio.Own(n)
	err = connect(n)
	if err == nil {
		return s, false, setBlocking(s)
	}
	if isInProgress(err) {
		return s, true, nil
	}
	s.Close()
	if se, ok := err.(*sys.Error); ok && se.Errno() == unix.EAGAIN {
		// A unix connect never goes on in the background: EAGAIN means
		// the listener's backlog is full, and nothing signals when room
		// frees up, so say so rather than wait on a socket that will
		// look writable but never be connected.
		return nil, false, sys.WithHint(err, "the listener's backlog is full: nobody is accepting connections")
	}
	return nil, false, err
}

// isInProgress reports a connect that continues in the background: inet
// sockets say EINPROGRESS (or EINTR, after which the connect goes on).
func isInProgress(err error) bool {
	se, ok := err.(*sys.Error)
	return ok && (se.Errno() == unix.EINPROGRESS || se.Errno() == unix.EINTR)
}

// FinishDial completes a pending Dial once the socket is writable.
func FinishDial(s *fdio.FD, a addr.Addr) error {
	n, err := s.Num()
	if err != nil {
		return err
	}
	soerr, err := sys.GetsockoptInt(n, unix.SOL_SOCKET, unix.SO_ERROR, "SO_ERROR")
	if err != nil {
		s.Close()
		return err
	}
	if soerr != 0 {
		s.Close()
		return sys.Wrap("connect", a.String(), unix.Errno(soerr))
	}
	return setBlocking(s)
}

func setBlocking(s *fdio.FD) error {
	if err := s.SetNonblock(false); err != nil {
		s.Close()
		return err
	}
	return nil
}

// Connect connects an existing socket to a, blocking in the kernel (a
// unix connect returns at once unless the listener's backlog is full).
func Connect(s *fdio.FD, a addr.Addr) error {
	n, err := s.Num()
	if err != nil {
		return err
	}
	if viaProc(a) {
		return connectLong(n, a) // longpath.go
	}
	sa, err := connectTarget(a)
	if err != nil {
		return err
	}
	return sys.Connect(n, sa, a.String())
}

// connectTarget turns an address into what connect(2) takes. fd:N goes
// through /proc/self/fd/N, which reaches the socket an O_PATH handle
// points at even after its name is gone.
func connectTarget(a addr.Addr) (unix.Sockaddr, error) {
	if a.Kind == addr.FD {
		return &unix.SockaddrUnix{Name: "/proc/self/fd/" + strconv.Itoa(a.Num)}, nil
	}
	sa, err := a.Sockaddr()
	if err != nil {
		return nil, sys.Errorf("connect", a.String(), unix.ENAMETOOLONG, "%v", err)
	}
	return sa, nil
}

// ListenOn makes a socket of type typ bound to a and, for stream and
// seqpacket, listening. fd:N returns the existing socket N, borrowed.
func ListenOn(a addr.Addr, typ, backlog int) (*fdio.FD, error) {
	if a.Kind == addr.FD {
		f := fdio.Borrow(a.Num)
		in, err := f.Info()
		if err != nil {
			return nil, err
		}
		if in.Socket == nil {
			return nil, sys.Errorf("listen", a.String(), unix.ENOTSOCK, "descriptor %d is a %s, not a socket", a.Num, in.Kind)
		}
		return f, nil
	}
	s, err := Socket(a.Domain(), typ)
	if err != nil {
		return nil, err
	}
	if err := Bind(s, a); err != nil {
		s.Close()
		return nil, err
	}
	if typ != unix.SOCK_DGRAM {
		if err := Listen(s, backlog); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// ShutdownHow maps "read", "write", "both" to SHUT_* values.
func ShutdownHow(s string) (int, bool) {
	switch s {
	case "read":
		return unix.SHUT_RD, true
	case "write":
		return unix.SHUT_WR, true
	case "both":
		return unix.SHUT_RDWR, true
	}
	return 0, false
}

// Shutdown shuts down one or both directions of s.
func Shutdown(s *fdio.FD, how int) error {
	n, err := s.Num()
	if err != nil {
		return err
	}
	return sys.Shutdown(n, how)
}

// SocketType returns SO_TYPE of s.
func SocketType(s *fdio.FD) (int, error) {
	n, err := s.Num()
	if err != nil {
		return 0, err
	}
	t, err := sys.GetsockoptInt(n, unix.SOL_SOCKET, unix.SO_TYPE, "SO_TYPE")
	if err != nil {
		if se, ok := err.(*sys.Error); ok && se.Errno() == unix.ENOTSOCK {
			return 0, sys.Errorf("socket", sys.FdAddr(n), unix.ENOTSOCK, "fd %d is not a socket", n)
		}
	}
	return t, err
}

// Describe formats a descriptor for error messages.
func Describe(s *fdio.FD) string { return fmt.Sprintf("fd %d", s.Raw()) }
