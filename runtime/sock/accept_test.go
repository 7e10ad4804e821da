package sock

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

func nonblocking(t *testing.T, f *fdio.FD) bool {
	t.Helper()
	n, err := f.Num()
	if err != nil {
		t.Fatal(err)
	}
	fl, err := sys.GetFl(n)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.O_NONBLOCK != 0
}

func listenAbstract(t *testing.T, name string) *fdio.FD {
	t.Helper()
	a, err := addr.Parse(name)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ListenOn(a, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, l)
	return l
}

func dialTo(t *testing.T, name string) *fdio.FD {
	t.Helper()
	a, err := addr.Parse(name)
	if err != nil {
		t.Fatal(err)
	}
	c, pending, err := Dial(unix.SOCK_STREAM, a)
	if err != nil || pending {
		t.Fatalf("dial %s: %v (pending %v)", name, err, pending)
	}
	closeLater(t, c)
	return c
}

// A listener the runtime did not make non-blocking is polled before
// accept and its description is never changed; one made non-blocking
// with SetNonblock is accepted on directly (EAGAIN when none is pending),
// and SetNonblock(false) takes it back to the polled path. Accepted
// sockets are blocking either way.
func TestTryAcceptBlockingAndNonblockingListener(t *testing.T) {
	leakcheck.Check(t)
	name := fmt.Sprintf("@fdwire-accept-test-%d", os.Getpid())
	l := listenAbstract(t, name)
	for _, mode := range []string{"blocking", "nonblock", "blocking again"} {
		switch mode {
		case "nonblock":
			if err := l.SetNonblock(true); err != nil {
				t.Fatal(err)
			}
		case "blocking again":
			if err := l.SetNonblock(false); err != nil {
				t.Fatal(err)
			}
		}
		if _, nb, _ := l.NumNonblock(); nb != (mode == "nonblock") {
			t.Fatalf("%s: NumNonblock says %v", mode, nb)
		}
		if _, _, err := TryAcceptFrom(l); !fdio.IsAgain(err) {
			t.Fatalf("%s: accept with nothing pending: %v, want EAGAIN", mode, err)
		}
		dialTo(t, name)
		c, _, err := TryAcceptFrom(l)
		if err != nil {
			t.Fatalf("%s: accept: %v", mode, err)
		}
		closeLater(t, c)
		if nonblocking(t, c) {
			t.Errorf("%s: the accepted socket is O_NONBLOCK", mode)
		}
		if got := nonblocking(t, l); got != (mode == "nonblock") {
			t.Errorf("%s: listener O_NONBLOCK is %v", mode, got)
		}
	}
}

// The peer address accept reports, converted without x/sys (which asked
// the listener for SO_PROTOCOL on every inet accept): inet, inet6,
// unnamed, abstract and path unix clients. An unnamed client is nil in
// Lua, as docs/sock.md says (x/sys made it "@", an empty abstract name).
func TestTryAcceptPeerAddress(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	un := fmt.Sprintf("@fdwire-accept-peer-%d", os.Getpid())
	l := listenAbstract(t, un)
	for _, tc := range []struct{ bind, want string }{
		{"", ""},
		{un + "-client", un + "-client"},
		{dir + "/client.sock", dir + "/client.sock"},
	} {
		s, err := Socket(unix.AF_UNIX, unix.SOCK_STREAM)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, s)
		if tc.bind != "" {
			a, _ := addr.Parse(tc.bind)
			if err := Bind(s, a); err != nil {
				t.Fatal(err)
			}
		}
		a, _ := addr.Parse(un)
		if err := Connect(s, a); err != nil {
			t.Fatal(err)
		}
		c, sa, err := TryAcceptFrom(l)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, c)
		if got := addr.FormatSockaddr(sa, unix.SOCK_STREAM); got != tc.want {
			t.Errorf("client bound to %q: peer %q, want %q", tc.bind, got, tc.want)
		}
	}
	for _, lis := range []string{"tcp:127.0.0.1:0", "tcp6:[::1]:0"} {
		a, _ := addr.Parse(lis)
		tl, err := ListenOn(a, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, tl)
		ln, _ := tl.Num()
		lsa, err := unix.Getsockname(ln)
		if err != nil {
			t.Fatal(err)
		}
		target := addr.FormatSockaddr(lsa, unix.SOCK_STREAM)
		ta, _ := addr.Parse(target)
		c, pending, err := Dial(unix.SOCK_STREAM, ta)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, c)
		if pending {
			if err := waitWritable(c); err != nil {
				t.Fatal(err)
			}
		}
		cn, _ := c.Num()
		csa, err := unix.Getsockname(cn)
		if err != nil {
			t.Fatal(err)
		}
		tl.SetNonblock(true) // the direct path converts the same way
		var ac *fdio.FD
		var sa unix.Sockaddr
		for {
			ac, sa, err = TryAcceptFrom(tl)
			if !fdio.IsAgain(err) {
				break
			}
			fdio.Ready(ln, unix.POLLIN)
		}
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, ac)
		want := addr.FormatSockaddr(csa, unix.SOCK_STREAM)
		if got := addr.FormatSockaddr(sa, unix.SOCK_STREAM); got != want || want == "" {
			t.Errorf("%s: peer %q, want %q", lis, got, want)
		}
	}
}

func waitWritable(c *fdio.FD) error {
	n, _ := c.Num()
	var fds = []unix.PollFd{{Fd: int32(n), Events: unix.POLLOUT}}
	for {
		if _, err := unix.Poll(fds, 5000); err != unix.EINTR {
			return err
		}
	}
}
