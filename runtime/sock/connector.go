package sock

// Connectors: reaching a listener without naming anything. A connector is
// one end of a SOCK_SEQPACKET socketpair; the process that made it serves
// the other end. A client (which may have no /proc, no file system and no
// network) asks for a connection and gets back a connected socket:
//
//	request:  one message; its first byte is 'C' (0x43); the rest is
//	          ignored (reserved). Descriptors sent with it are closed.
//	reply:    one message of 4 bytes, a native-endian int32 errno.
//	          0: exactly one descriptor is attached (SCM_RIGHTS), a socket
//	          connected to the target; otherwise no descriptor, and the
//	          errno says why (ECONNREFUSED: the listener is gone; EAGAIN:
//	          its backlog is full; ETIMEDOUT: an inet connect took longer
//	          than the connector's timeout; EINVAL: a bad request).
//
// Requests are answered in order, one at a time. The server connects
// itself, so the listener sees the serving process's credentials
// (SO_PEERCRED), not the client's. It serves until every copy of the
// client end is closed, or Close. See docs/anon.md.

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// ConnectorRequest is the request byte.
const ConnectorRequest = 'C'

// ConnectorTag marks client ends made here.
const ConnectorTag = "connector"

// ConnectorOptions configure NewConnector.
type ConnectorOptions struct {
	// Type of the connections for an address string (default: the
	// address's default type); for an address handle, the listener's.
	Type int
	// Timeout bounds one inet connect (default 10 s).
	Timeout time.Duration
}

// Connector is the serving side of a connector.
type Connector struct {
	handle *fdio.FD // private copy of an address handle, or nil
	target addr.Addr
	o      ConnectorOptions
	server *fdio.FD
	stop   *fdio.FD // eventfd: Close wakes the server
	done   chan struct{}
	once   sync.Once
	served atomic.Int64
	failed atomic.Int64
}

// NewConnector makes a connector to the listener behind address handle h
// (made by BindAnon), or, when h is nil, to address a. It returns the
// serving side and the client end; hand the client end to whoever may
// connect. The server runs on its own goroutine until Close or until
// every copy of the client end is closed.
func NewConnector(h *fdio.FD, a addr.Addr, o ConnectorOptions) (*Connector, *fdio.FD, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	c := &Connector{target: a, o: o, done: make(chan struct{})}
	if h != nil {
		n, err := h.Num()
		if err != nil {
			return nil, nil, sys.Errorf("connector", "", unix.EBADF, "the address handle is closed")
		}
		in, err := h.Info()
		if err != nil {
			return nil, nil, err
		}
		if !(in.Path && in.Kind == "socket") {
			return nil, nil, sys.Errorf("connector", sys.FdAddr(n), unix.EINVAL, "a connector needs an address handle (an O_PATH descriptor of a socket, from bind_anon), not a %s", in.Kind)
		}
		d, err := fdio.Dup(h)
		if err != nil {
			return nil, nil, err
		}
		c.handle = d
		if c.o.Type == 0 {
			c.o.Type = AddressType(h)
		}
		c.target = addr.Addr{Kind: addr.FD, Num: d.Raw()}
	} else if c.o.Type == 0 {
		c.o.Type = a.DefaultType()
	}
	srv, cli, err := Pair(unix.SOCK_SEQPACKET)
	if err != nil {
		c.closeHandle()
		return nil, nil, err
	}
	stop, err := fdio.Eventfd(0)
	if err != nil {
		srv.Close()
		cli.Close()
		c.closeHandle()
		return nil, nil, err
	}
	c.server, c.stop = srv, stop
	cli.Tag(ConnectorTag)
	go c.serve()
	return c, cli, nil
}

func (c *Connector) closeHandle() {
	if c.handle != nil {
		c.handle.Close()
	}
}

// Served and Failed count the requests answered with a connection and
// with an errno.
func (c *Connector) Served() int64 { return c.served.Load() }
func (c *Connector) Failed() int64 { return c.failed.Load() }

// Done is closed when the server has stopped.
func (c *Connector) Done() <-chan struct{} { return c.done }

// Close stops the server and waits for it; clients then see EOF (or
// ECONNRESET) instead of replies. Idempotent.
func (c *Connector) Close() error {
	c.once.Do(func() {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		sys.Write(c.stop.Raw(), one[:])
	})
	<-c.done
	return nil
}

func (c *Connector) serve() {
	defer func() {
		c.server.Close()
		c.stop.Close()
		c.closeHandle()
		close(c.done)
	}()
	srv := c.server.Raw()
	pfd := []unix.PollFd{{Fd: int32(srv), Events: unix.POLLIN}, {Fd: int32(c.stop.Raw()), Events: unix.POLLIN}}
	for {
		pfd[0].Revents, pfd[1].Revents = 0, 0
		if _, err := sys.Poll(pfd, -1); err != nil {
			return
		}
		if pfd[1].Revents != 0 {
			return
		}
		if pfd[0].Revents == 0 {
			continue
		}
		m, err := TryRecvFds(c.server, RecvOptions{MaxFds: 4, MaxData: 64})
		if errors.Is(err, fdio.ErrAgain) {
			continue
		}
		if err != nil || m.EOF {
			if m != nil {
				m.closeAll()
			}
			return // every client end is closed (or the socket failed)
		}
		for _, f := range m.Fds {
			f.Close()
		}
		if m.Pidfd != nil {
			m.Pidfd.Close()
		}
		if len(m.Data) == 0 || m.Data[0] != ConnectorRequest {
			c.reply(unix.EINVAL, nil)
			continue
		}
		s, err := c.dial()
		if err != nil {
			en := sys.ErrnoOf(err)
			if en == 0 {
				en = unix.EIO
			}
			c.reply(en, nil)
			continue
		}
		c.reply(0, s)
		s.Close()
	}
}

func (c *Connector) reply(en unix.Errno, s *fdio.FD) {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(en))
	var fds []*fdio.FD
	if s != nil {
		fds = []*fdio.FD{s}
		c.served.Add(1)
	} else {
		c.failed.Add(1)
	}
	// A full client queue (a client that never reads its replies) must
	// not stop the server for the others: wait a bounded time, then drop.
	for i := 0; i < 100; i++ {
		_, err := TrySendFds(c.server, fds, b[:])
		if !errors.Is(err, fdio.ErrAgain) {
			return
		}
		pfd := []unix.PollFd{{Fd: int32(c.server.Raw()), Events: unix.POLLOUT}}
		sys.Poll(pfd, 10)
	}
}

// dial connects to the target; an inet connect waits up to the timeout.
func (c *Connector) dial() (*fdio.FD, error) {
	var (
		s       *fdio.FD
		pending bool
		err     error
	)
	if c.handle != nil {
		s, pending, _, err = DialAddress(c.o.Type, c.handle)
	} else {
		s, pending, err = Dial(c.o.Type, c.target)
	}
	if err != nil || !pending {
		return s, err
	}
	pfd := []unix.PollFd{{Fd: int32(s.Raw()), Events: unix.POLLOUT}}
	deadline := time.Now().Add(c.o.Timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			s.Close()
			return nil, sys.Errorf("connect", c.target.String(), unix.ETIMEDOUT, "the connector's timeout passed")
		}
		n, err := sys.Poll(pfd, int(left/time.Millisecond)+1)
		if err != nil {
			s.Close()
			return nil, err
		}
		if n > 0 {
			break
		}
	}
	if err := FinishDial(s, c.target); err != nil {
		return nil, err
	}
	return s, nil
}

// IsConnector reports whether s looks like a connector's client end: a
// connected unix SOCK_SEQPACKET socket (made here, or received).
func IsConnector(s *fdio.FD) bool {
	if s.HasTag(ConnectorTag) {
		return true
	}
	n, err := s.Num()
	if err != nil {
		return false
	}
	if t, err := TypeOf(s); err != nil || t != unix.SOCK_SEQPACKET {
		return false
	}
	sa, err := sys.Getpeername(n)
	_, isUnix := sa.(*unix.SockaddrUnix)
	return err == nil && isUnix
}

// TryRequestConnection sends one request on a connector's client end.
func TryRequestConnection(cli *fdio.FD) error {
	_, err := TrySendFds(cli, nil, []byte{ConnectorRequest})
	return err
}

// TryReceiveConnection reads one reply: the connected socket, the errno
// the server reported (as an error naming the connector), or EAGAIN.
func TryReceiveConnection(cli *fdio.FD) (*fdio.FD, error) {
	m, err := TryRecvFds(cli, RecvOptions{MaxFds: 1, MaxData: 16})
	if err != nil {
		return nil, err
	}
	if m.Pidfd != nil {
		m.Pidfd.Close()
	}
	shown := "connector " + sys.FdAddr(cli.Raw())
	if m.EOF {
		m.closeAll()
		return nil, sys.Errorf("connect", shown, unix.ECONNRESET, "the connector's server has stopped")
	}
	if len(m.Data) != 4 {
		m.closeAll()
		return nil, sys.Errorf("connect", shown, unix.EPROTO, "a connector reply is 4 bytes, got %d", len(m.Data))
	}
	en := unix.Errno(binary.NativeEndian.Uint32(m.Data))
	if en != 0 {
		m.closeAll()
		return nil, sys.Errorf("connect", shown, en, "reported by the connector's server")
	}
	if len(m.Fds) != 1 {
		m.closeAll()
		return nil, sys.Errorf("connect", shown, unix.EPROTO, "a successful reply carries one descriptor, got %d", len(m.Fds))
	}
	return m.Fds[0], nil
}

// ConnectVia asks a connector for one connection, blocking until the
// reply comes (the server answers every request, with a bounded wait).
func ConnectVia(cli *fdio.FD) (*fdio.FD, error) {
	for {
		err := TryRequestConnection(cli)
		if err == nil {
			break
		}
		if !errors.Is(err, fdio.ErrAgain) {
			return nil, err
		}
		if err := waitFd(cli, unix.POLLOUT); err != nil {
			return nil, err
		}
	}
	for {
		s, err := TryReceiveConnection(cli)
		if !errors.Is(err, fdio.ErrAgain) {
			return s, err
		}
		if err := waitFd(cli, unix.POLLIN); err != nil {
			return nil, err
		}
	}
}

func waitFd(f *fdio.FD, ev int16) error {
	n, err := f.Num()
	if err != nil {
		return err
	}
	_, err = sys.Poll([]unix.PollFd{{Fd: int32(n), Events: ev}}, -1)
	return err
}
