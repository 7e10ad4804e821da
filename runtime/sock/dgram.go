package sock

import (
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// TrySendTo sends one datagram to a (a path, a long path, an abstract
// name, an inet address, or an address handle as fd:N), or returns EAGAIN
// when the socket's buffer (or the receiver's queue) is full.
func TrySendTo(s *fdio.FD, a addr.Addr, data []byte) (int, error) {
	n, err := s.Num()
	if err != nil {
		return 0, err
	}
	var w int
	err = withTarget("sendto", a, func(sa unix.Sockaddr) error {
		var e error
		w, e = sys.Sendmsg(n, data, nil, sa, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		return e
	})
	if err != nil {
		if fdio.IsAgain(err) {
			return 0, fdio.ErrAgain
		}
		return 0, relabel(err, "sendto", a.String())
	}
	return w, nil
}

// TryRecvFrom receives one datagram of at most max bytes (default 65536)
// and the sender's address in the grammar ("" for an unbound sender), or
// returns EAGAIN when nothing is queued. truncated is MSG_TRUNC.
func TryRecvFrom(s *fdio.FD, max int) (data []byte, from string, truncated bool, err error) {
	n, err := s.Num()
	if err != nil {
		return nil, "", false, err
	}
	if max <= 0 {
		max = 65536
	}
	typ, err := typeFor("recvfrom", s)
	if err != nil {
		return nil, "", false, err
	}
	buf := make([]byte, max)
	r, _, flags, sa, err := sys.Recvmsg(n, buf, nil, unix.MSG_DONTWAIT)
	if err != nil {
		if fdio.IsAgain(err) {
			return nil, "", false, fdio.ErrAgain
		}
		return nil, "", false, sys.Wrap("recvfrom", sys.FdAddr(n), unwrapErrno(err))
	}
	if sa != nil {
		from = addr.FormatSockaddr(sa, typ)
	}
	return buf[:r], from, flags&unix.MSG_TRUNC != 0, nil
}
