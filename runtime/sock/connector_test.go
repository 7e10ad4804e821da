package sock_test

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sock"
	"github.com/fdwire/fdwire/runtime/sys"
)

// TestConnector1000: a connector delivers 1,000 connections to an
// anonymous listener, each one really connected to it, and reports
// ECONNREFUSED once the listener is closed, with nothing leaked.
func TestConnector1000(t *testing.T) {
	leakcheck.Check(t)
	l, h, err := sock.BindAnon(sock.AnonOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c, cli, err := sock.NewConnector(h, addr.Addr{}, sock.ConnectorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer cli.Close()
	if !sock.IsConnector(cli) {
		t.Fatal("client end not recognised as a connector")
	}
	const n = 1000
	accepted := make(chan error, 1)
	go func() {
		buf := make([]byte, 8)
		for i := 0; i < n; {
			if _, err := sys.Poll([]unix.PollFd{{Fd: int32(l.Raw()), Events: unix.POLLIN}}, -1); err != nil {
				accepted <- err
				return
			}
			a, err := sock.TryAccept(l)
			if fdio.IsAgain(err) {
				continue // sys.Poll reports EINTR as 0 ready: poll again
			}
			if err != nil {
				accepted <- err
				return
			}
			i++
			k, err := sys.Read(a.Raw(), buf)
			a.Close()
			if err != nil || k != 1 || buf[0] != 'x' {
				accepted <- errors.New("a connection carried the wrong data")
				return
			}
		}
		accepted <- nil
	}()
	for i := 0; i < n; i++ {
		s, err := sock.ConnectVia(cli)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if _, err := sys.Write(s.Raw(), []byte("x")); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	if c.Served() != n {
		t.Errorf("served %d, want %d", c.Served(), n)
	}
	l.Close()
	_, err = sock.ConnectVia(cli)
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("after the listener closed: %v, want ECONNREFUSED", err)
	}
}

// TestConnectorBadInput: a connector needs an address handle; a bad
// request gets EINVAL; a stopped server gives ECONNRESET, not a hang.
func TestConnectorBadInput(t *testing.T) {
	leakcheck.Check(t)
	r, w, _ := fdio.Pipe()
	defer r.Close()
	defer w.Close()
	if _, _, err := sock.NewConnector(r, addr.Addr{}, sock.ConnectorOptions{}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("pipe as address handle: %v", err)
	}
	closed, _ := fdio.Dup(r)
	closed.Close()
	if _, _, err := sock.NewConnector(closed, addr.Addr{}, sock.ConnectorOptions{}); !errors.Is(err, unix.EBADF) {
		t.Errorf("closed handle: %v", err)
	}
	a, _ := addr.Parse("@fdwire-connector-test-nobody-listens")
	c, cli, err := sock.NewConnector(nil, a, sock.ConnectorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := sock.ConnectVia(cli); !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("nobody listening: %v", err)
	}
	if _, err := sys.Write(cli.Raw(), []byte("?")); err != nil {
		t.Fatal(err)
	}
	// sys.Poll reports EINTR as 0 ready: poll until the reply is there.
	for pfd := []unix.PollFd{{Fd: int32(cli.Raw()), Events: unix.POLLIN}}; pfd[0].Revents == 0; {
		sys.Poll(pfd, -1)
	}
	if _, err := sock.TryReceiveConnection(cli); !errors.Is(err, unix.EINVAL) {
		t.Errorf("bad request: %v, want EINVAL", err)
	}
	c.Close()
	if _, err := sock.ConnectVia(cli); !errors.Is(err, unix.ECONNRESET) && !errors.Is(err, unix.EPIPE) {
		t.Errorf("stopped server: %v", err)
	}
}
