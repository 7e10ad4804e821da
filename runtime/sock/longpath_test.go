package sock

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
)

// longDir makes a directory whose path is about n bytes long.
func longDir(t *testing.T, n int) string {
	t.Helper()
	d := t.TempDir()
	for len(d) < n-60 {
		d += "/" + strings.Repeat("d", 50)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// TestLongPathBindConnect: a 300-byte path is bound, listened on and
// connected to by plain path, through Bind, Dial and Connect.
func TestLongPathBindConnect(t *testing.T) {
	leakcheck.Check(t)
	d := longDir(t, 300)
	p := d + "/" + strings.Repeat("s", 300-len(d)-1)
	if len(p) != 300 {
		t.Fatalf("path is %d bytes", len(p))
	}
	a, err := addr.Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ListenOn(a, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, l)
	if st, err := os.Lstat(p); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no socket at the long path: %v", err)
	}
	s, pending, err := Dial(unix.SOCK_STREAM, a)
	if err != nil || pending {
		t.Fatalf("dial: %v %v", err, pending)
	}
	s.Close()
	s2, err := Socket(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, s2)
	if err := Connect(s2, a); err != nil {
		t.Fatal(err)
	}
	acceptBlocking(t, l).Close()
	acceptBlocking(t, l).Close()
	// Datagrams to a long path.
	dg, err := ListenOn(addr.Addr{Kind: addr.Unix, Path: p + "-dg"}, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, dg)
	if _, err := TrySendTo(s2Dgram(t), addr.Addr{Kind: addr.Unix, Path: p + "-dg"}, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := recvBlocking(t, dg); got != "hi" {
		t.Errorf("got %q", got)
	}
}

func s2Dgram(t *testing.T) *fdio.FD {
	s, err := Socket(unix.AF_UNIX, unix.SOCK_DGRAM)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, s)
	return s
}

func TestLongPathErrors(t *testing.T) {
	leakcheck.Check(t)
	d := longDir(t, 200)
	// A missing directory names the path the user gave.
	_, _, err := Dial(unix.SOCK_STREAM, addr.Addr{Kind: addr.Unix, Path: d + "/nodir/x.sock"})
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "connect "+d+"/nodir/x.sock") {
		t.Errorf("missing dir: %v", err)
	}
	// Nothing listening.
	_, _, err = Dial(unix.SOCK_STREAM, addr.Addr{Kind: addr.Unix, Path: d + "/x.sock"})
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("missing socket: %v", err)
	}
	// A last component too long even for /proc/self/fd/N/.
	s, err := Socket(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, s)
	err = Bind(s, addr.Addr{Kind: addr.Unix, Path: d + "/" + strings.Repeat("n", 120)})
	if !errors.Is(err, unix.ENAMETOOLONG) || !strings.Contains(err.Error(), "last path component") {
		t.Errorf("long component: %v", err)
	}
}

func TestBindAtConnectAt(t *testing.T) {
	leakcheck.Check(t)
	d := longDir(t, 250)
	dir, err := fdio.OpenFile(d, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, dir)
	for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_SEQPACKET} {
		l, err := Socket(unix.AF_UNIX, typ)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, l)
		name := "at-" + fdio.TypeName(typ)
		if err := BindAt(l, dir, name); err != nil {
			t.Fatal(err)
		}
		if err := Listen(l, 0); err != nil {
			t.Fatal(err)
		}
		c, pending, err := DialAt(typ, dir, name)
		if err != nil || pending {
			t.Fatalf("DialAt: %v %v", err, pending)
		}
		c.Close()
		acceptBlocking(t, l).Close()
	}
	s, _ := Socket(unix.AF_UNIX, unix.SOCK_STREAM)
	closeLater(t, s)
	if err := ConnectAt(s, dir, "absent"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("absent: %v", err)
	}
	if err := BindAt(s, dir, "/abs"); !errors.Is(err, unix.EINVAL) {
		t.Errorf("absolute name: %v", err)
	}
	closed, _ := fdio.OpenFile(d, unix.O_PATH|unix.O_DIRECTORY, 0)
	closed.Close()
	if err := ConnectAt(s, closed, "x"); !errors.Is(err, unix.EBADF) {
		t.Errorf("closed dir: %v", err)
	}
}

// TestScratchNeverOutlivesBindAnon watches the scratch parent with
// inotify: the private directory and the socket name are made and
// removed inside BindAnon, and nothing appears there afterwards while
// clients connect and the handles close.
func TestScratchNeverOutlivesBindAnon(t *testing.T) {
	leakcheck.Check(t)
	parent := t.TempDir()
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, parent, unix.IN_CREATE|unix.IN_DELETE); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_DGRAM} {
		l, h, err := BindAnon(AnonOptions{Type: typ, Dir: parent})
		if err != nil {
			t.Fatal(err)
		}
		ev := inotifyEvents(in)
		if len(ev) != 2 || !strings.HasPrefix(ev[0], "create ") || ev[1] != "delete "+ev[0][7:] {
			t.Errorf("events during BindAnon: %v", ev)
		}
		emptyDir(t, parent)
		s, _, _, err := DialAddress(0, h)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		l.Close()
		h.Close()
		if ev := inotifyEvents(in); len(ev) != 0 {
			t.Errorf("events after BindAnon: %v", ev)
		}
	}
}

func inotifyEvents(fd int) []string {
	var out []string
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil || n <= 0 {
			return out
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			e := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(e.Len)]), "\x00")
			kind := "create "
			if e.Mask&unix.IN_DELETE != 0 {
				kind = "delete "
			}
			out = append(out, kind+name)
			off += unix.SizeofInotifyEvent + int(e.Len)
		}
	}
}
