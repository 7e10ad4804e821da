package sock

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/internal/testtool"
	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// closeLater closes handles at the end of the test (before leakcheck runs).
func closeLater(t *testing.T, fs ...*fdio.FD) {
	t.Cleanup(func() {
		for _, f := range fs {
			if f != nil {
				f.Close()
			}
		}
	})
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left on disk: %s/%s", dir, e.Name())
	}
}

// runChild runs argv with h at descriptor 3 and returns its output.
func runChild(t *testing.T, h *fdio.FD, argv ...string) (string, error) {
	t.Helper()
	n, err := h.Num()
	if err != nil {
		t.Fatal(err)
	}
	d, err := unix.Dup(n)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(d), "address")
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

const pyStream = `
import os, socket, sys
typ = {"stream": socket.SOCK_STREAM, "seqpacket": socket.SOCK_SEQPACKET, "dgram": socket.SOCK_DGRAM}[sys.argv[1]]
s = socket.socket(socket.AF_UNIX, typ)
msg = ("hello from uid %d" % os.getuid()).encode()
if typ == socket.SOCK_DGRAM:
    s.sendto(msg, "/proc/self/fd/3")
else:
    s.connect("/proc/self/fd/3")
    s.sendall(msg)
    print(s.recv(100).decode())
`

var anonTypes = []struct {
	name string
	typ  int
}{{"stream", unix.SOCK_STREAM}, {"seqpacket", unix.SOCK_SEQPACKET}, {"dgram", unix.SOCK_DGRAM}}

// TestBindAnonOtherProcess: a python client that holds only the address
// handle (at fd 3) reaches the listener, for every type, and nothing of the
// socket is left on disk at any point after BindAnon returns.
func TestBindAnonOtherProcess(t *testing.T) {
	py := testtool.Python(t)
	for _, tc := range anonTypes {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			dir := t.TempDir()
			l, h, err := BindAnon(AnonOptions{Type: tc.typ, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			closeLater(t, l, h)
			emptyDir(t, dir)
			done := make(chan string, 1)
			go func() {
				out, err := runChild(t, h, py, "-c", pyStream, tc.name)
				if err != nil {
					out += err.Error()
				}
				done <- out
			}()
			var got string
			if tc.typ == unix.SOCK_DGRAM {
				got = recvBlocking(t, l)
			} else {
				c := acceptBlocking(t, l)
				got = readBlocking(t, c)
				n, _ := c.Num()
				unix.Write(n, []byte("welcome"))
				c.Close()
			}
			out := <-done
			if got != "hello from uid 0" {
				t.Errorf("server got %q (client said %q)", got, out)
			}
			if tc.typ != unix.SOCK_DGRAM && strings.TrimSpace(out) != "welcome" {
				t.Errorf("client output %q", out)
			}
			emptyDir(t, dir)
		})
	}
}

func acceptBlocking(t *testing.T, l *fdio.FD) *fdio.FD {
	t.Helper()
	var c *fdio.FD
	err := fdio.Block(l, unix.POLLIN, 0, "accept", func() error {
		var err error
		c, err = TryAccept(l)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readBlocking(t *testing.T, c *fdio.FD) string {
	t.Helper()
	m, err := recvMsg(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(m.Data)
}

func recvMsg(c *fdio.FD) (*Message, error) {
	var m *Message
	err := fdio.Block(c, unix.POLLIN, 0, "recv", func() error {
		var err error
		m, err = TryRecvFds(c, RecvOptions{})
		return err
	})
	return m, err
}

func recvBlocking(t *testing.T, s *fdio.FD) string {
	t.Helper()
	var data []byte
	err := fdio.Block(s, unix.POLLIN, 0, "recvfrom", func() error {
		var err error
		data, _, _, err = TryRecvFrom(s, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestBindAnonUnprivilegedClient: possession of the handle is the
// permission; a client running as nobody connects through it.
func TestBindAnonUnprivilegedClient(t *testing.T) {
	py := testtool.Python(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv is not installed (util-linux)")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to start a client as uid 65534")
	}
	leakcheck.Check(t)
	l, h, err := BindAnon(AnonOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, l, h)
	done := make(chan string, 1)
	go func() {
		out, err := runChild(t, h, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", py, "-c", pyStream, "stream")
		if err != nil {
			out += err.Error()
		}
		done <- out
	}()
	c := acceptBlocking(t, l)
	got := readBlocking(t, c)
	p, err := Peer(c)
	if err != nil {
		t.Fatal(err)
	}
	if p.Pidfd != nil {
		p.Pidfd.Close()
	}
	c.Close()
	out := <-done
	if got != "hello from uid 65534" || p.Uid != 65534 {
		t.Errorf("got %q from uid %d; client said %q", got, p.Uid, out)
	}
}

func TestBindAnonDialAddress(t *testing.T) {
	leakcheck.Check(t)
	for _, tc := range anonTypes {
		l, h, err := BindAnon(AnonOptions{Type: tc.typ, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, l, h)
		// A handle as another process would hold it: same inode, no record.
		d, err := fdio.Dup(h)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, d)
		for _, via := range []*fdio.FD{h, d} {
			s, pending, used, err := DialAddress(0, via)
			if err != nil || pending || used != tc.typ {
				t.Fatalf("%s: DialAddress: %v pending=%v type=%d", tc.name, err, pending, used)
			}
			s.Close()
		}
		if tc.typ != unix.SOCK_DGRAM {
			for {
				c, err := TryAccept(l)
				if err != nil {
					break
				}
				c.Close()
			}
		}
	}
}

func TestBindAnonInfo(t *testing.T) {
	leakcheck.Check(t)
	l, h, err := BindAnon(AnonOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, l, h)
	in, err := l.Info()
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Summary(); got != "unix/stream listening anon" {
		t.Errorf("listener summary %q", got)
	}
	in, err = h.Info()
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Summary(); got != "socket path anon address unix/stream" || !in.Path {
		t.Errorf("address summary %q", got)
	}
}

func TestBindAnonRefusedAfterClose(t *testing.T) {
	leakcheck.Check(t)
	l, h, err := BindAnon(AnonOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, h)
	l.Close()
	_, _, _, err = DialAddress(0, h)
	if !errors.Is(err, unix.ECONNREFUSED) || !strings.Contains(err.Error(), "listener was closed") {
		t.Fatalf("want ECONNREFUSED with a hint, got %v", err)
	}
	// Through the listener's own descriptor the route does not work.
	l2, h2, err := BindAnon(AnonOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, l2, h2)
	_, _, _, err = DialAddress(unix.SOCK_STREAM, l2)
	if !errors.Is(err, unix.ECONNREFUSED) || !strings.Contains(err.Error(), "not an address handle") {
		t.Fatalf("want ECONNREFUSED with a hint, got %v", err)
	}
}

func TestPublish(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	scratch := t.TempDir()
	l, h, err := BindAnon(AnonOptions{Publishable: true, Dir: scratch})
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, l, h)
	// Until published the name lives in one private 0700 directory.
	ents, _ := os.ReadDir(scratch)
	if len(ents) != 1 {
		t.Fatalf("scratch holds %d entries", len(ents))
	}
	if st, err := os.Stat(scratch + "/" + ents[0].Name()); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("private dir: %v %v", st.Mode(), err)
	}
	pub := dir + "/pub.sock"
	if err := Publish(h, pub, PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	emptyDir(t, scratch)
	s, _, err := Dial(unix.SOCK_STREAM, addr.Addr{Kind: addr.Unix, Path: pub})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	c := acceptBlocking(t, l)
	c.Close()
	err = Publish(h, dir+"/again.sock", PublishOptions{})
	if !errors.Is(err, unix.EEXIST) || !strings.Contains(err.Error(), "already published at "+pub) {
		t.Errorf("publish twice: %v", err)
	}
	if _, err := os.Lstat(dir + "/again.sock"); err == nil {
		t.Error("second publish made a name")
	}
	// The public name goes with the listener.
	l.Close()
	emptyDir(t, dir)
}

func TestPublishNotPublishable(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	l, h, err := BindAnon(AnonOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, l, h)
	err = Publish(h, dir+"/x.sock", PublishOptions{})
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "publishable=true") {
		t.Errorf("got %v", err)
	}
	p, w, _ := fdio.Pipe()
	closeLater(t, p, w)
	if err := Publish(p, dir+"/x.sock", PublishOptions{}); err == nil || !strings.Contains(err.Error(), "not an address handle") {
		t.Errorf("pipe: %v", err)
	}
	emptyDir(t, dir)
}

// TestPublishableCleanedOnClose: an unpublished name and its private
// directory go when the address handle closes.
func TestPublishableCleanedOnClose(t *testing.T) {
	leakcheck.Check(t)
	scratch := t.TempDir()
	l, h, err := BindAnon(AnonOptions{Publishable: true, Dir: scratch})
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, l)
	h.Close()
	emptyDir(t, scratch)
	// keep=true leaves the public name after the listener closes.
	l2, h2, err := BindAnon(AnonOptions{Publishable: true, Dir: scratch})
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, h2)
	pub := t.TempDir() + "/kept.sock"
	if err := Publish(h2, pub, PublishOptions{Keep: true}); err != nil {
		t.Fatal(err)
	}
	l2.Close()
	if st, err := os.Lstat(pub); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Errorf("kept name: %v", err)
	}
}

func TestBindAnonBadInput(t *testing.T) {
	leakcheck.Check(t)
	if _, _, err := BindAnon(AnonOptions{Type: unix.SOCK_RAW, Dir: t.TempDir()}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("raw: %v", err)
	}
	if _, _, err := BindAnon(AnonOptions{Dir: "/nonexistent/dir"}); !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "scratch") {
		t.Errorf("missing dir: %v", err)
	}
	l, h, err := BindAnon(AnonOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	h.Close()
	if _, _, _, err := DialAddress(0, h); !errors.Is(err, unix.EBADF) {
		t.Errorf("closed handle: %v", err)
	}
	var se *sys.Error
	if err := Publish(h, t.TempDir()+"/x", PublishOptions{}); !errors.As(err, &se) {
		t.Errorf("publish closed handle: %v", err)
	}
}

// TestAddressHandleOverSCMRights: the handle travels like any fd.
func TestAddressHandleOverSCMRights(t *testing.T) {
	leakcheck.Check(t)
	l, h, err := BindAnon(AnonOptions{Type: unix.SOCK_SEQPACKET, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, l, h)
	a, b, err := Pair(unix.SOCK_STREAM)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, a, b)
	if _, err := TrySendFds(a, []*fdio.FD{h}, []byte("addr")); err != nil {
		t.Fatal(err)
	}
	m, err := recvMsg(b)
	if err != nil || len(m.Fds) != 1 {
		t.Fatalf("recv: %v %v", m, err)
	}
	got := m.Fds[0]
	closeLater(t, got)
	s, _, typ, err := DialAddress(0, got)
	if err != nil || typ != unix.SOCK_SEQPACKET {
		t.Fatalf("dial received handle: %v type %d", err, typ)
	}
	s.Close()
	acceptBlocking(t, l).Close()
}

// TestSocketOptions: passrights off refuses descriptors at the sender;
// passpidfd delivers the sender's pidfd.
func TestSocketOptions(t *testing.T) {
	leakcheck.Check(t)
	a, b, err := Pair(unix.SOCK_DGRAM)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, a, b)
	if v, err := GetOption(b, mustOption("passcred")); err != nil || v != 0 {
		t.Fatalf("passcred %d %v", v, err)
	}
	err = SetOption(b, mustOption("passrights"), 0)
	switch {
	case errors.Is(err, unix.ENOPROTOOPT):
		if !strings.Contains(err.Error(), "Linux 6.16") {
			t.Errorf("no kernel hint: %v", err)
		}
	case err != nil:
		t.Fatal(err)
	default:
		_, err = TrySendFds(a, []*fdio.FD{a}, []byte("x"))
		if !errors.Is(err, unix.EPERM) {
			t.Errorf("sendfds to passrights=0: %v", err)
		}
		SetOption(b, mustOption("passrights"), 1)
	}
	err = SetOption(b, mustOption("passpidfd"), 1)
	if errors.Is(err, unix.ENOPROTOOPT) {
		t.Skip("SO_PASSPIDFD needs Linux 6.5")
	}
	if err != nil {
		t.Fatal(err)
	}
	if !b.HasTag("passpidfd") || !PassesCredentials(b) {
		t.Error("passpidfd not tagged")
	}
	if _, err := TrySendFds(a, []*fdio.FD{a}, []byte("y")); err != nil {
		t.Fatal(err)
	}
	m, err := recvMsg(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Fds {
		f.Close()
	}
	if m.Pidfd == nil || len(m.Fds) != 1 {
		t.Fatalf("pidfd %v fds %d", m.Pidfd, len(m.Fds))
	}
	m.Pidfd.Close()
}

// BenchmarkBindAnon is the cost of the emulation (mkdir, bind, chmod,
// open O_PATH, listen, unlink, rmdir) against BenchmarkListenOnPath.
func BenchmarkBindAnon(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		l, h, err := BindAnon(AnonOptions{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
		h.Close()
	}
}

func BenchmarkListenOnPath(b *testing.B) {
	p := b.TempDir() + "/s"
	for b.Loop() {
		l, err := ListenOn(addr.Addr{Kind: addr.Unix, Path: p}, unix.SOCK_STREAM, 0)
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
		os.Remove(p)
	}
}

// BenchmarkDialAddress is connecting through an address handle against
// BenchmarkDialPath, connecting by path.
func BenchmarkDialAddress(b *testing.B) {
	l, h, err := BindAnon(AnonOptions{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	defer h.Close()
	for b.Loop() {
		s, _, _, err := DialAddress(0, h)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
		c, err := TryAccept(l)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func BenchmarkDialPath(b *testing.B) {
	p := b.TempDir() + "/s"
	a := addr.Addr{Kind: addr.Unix, Path: p}
	l, err := ListenOn(a, unix.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for b.Loop() {
		s, _, err := Dial(unix.SOCK_STREAM, a)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
		c, err := TryAccept(l)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func mustOption(name string) Option {
	o, ok := LookupOption(name)
	if !ok {
		panic("no socket option " + name)
	}
	return o
}
