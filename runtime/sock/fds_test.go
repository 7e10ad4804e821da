package sock

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

func pair(t *testing.T, typ int) (*fdio.FD, *fdio.FD) {
	t.Helper()
	a, b, err := Pair(typ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func recv(t *testing.T, s *fdio.FD, o RecvOptions) (*Message, error) {
	var m *Message
	err := fdio.Block(s, unix.POLLIN, 5*time.Second, "recvfds", func() error {
		var err error
		m, err = TryRecvFds(s, o)
		return err
	})
	return m, err
}

func TestSendRecvRoundTrip(t *testing.T) {
	leakcheck.Check(t)
	for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET} {
		a, b := pair(t, typ)
		r, w, err := fdio.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := TrySendFds(a, []*fdio.FD{r, w}, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		m, err := recv(t, b, RecvOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != "hi" || len(m.Fds) != 2 {
			t.Fatalf("type %d: got %q with %d fds", typ, m.Data, len(m.Fds))
		}
		for _, f := range m.Fds {
			in, _ := f.Info()
			if !in.Cloexec || in.Kind != "pipe" {
				t.Errorf("received fd: %+v", in)
			}
			f.Close()
		}
		r.Close()
		w.Close()
	}
}

func TestStreamEmptyPayloadCarriesFds(t *testing.T) {
	leakcheck.Check(t)
	a, b := pair(t, unix.SOCK_STREAM)
	if _, err := TrySendFds(a, []*fdio.FD{a}, nil); err != nil {
		t.Fatal(err)
	}
	m, err := recv(t, b, RecvOptions{})
	if err != nil || len(m.Fds) != 1 || string(m.Data) != "\x00" {
		t.Fatalf("m=%+v err=%v", m, err)
	}
	m.Fds[0].Close()
}

func TestTooManyFdsRefusedBeforeSyscall(t *testing.T) {
	leakcheck.Check(t)
	a, _ := pair(t, unix.SOCK_DGRAM)
	fds := make([]*fdio.FD, 254)
	for i := range fds {
		fds[i] = a
	}
	_, err := TrySendFds(a, fds, []byte("x"))
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "SCM_MAX_FD") {
		t.Fatalf("err = %v", err)
	}
	if _, err := TrySendFds(a, fds[:253], []byte("x")); err != nil {
		t.Fatalf("253 fds must pass: %v", err)
	}
}

func TestCtruncClosesAndFails(t *testing.T) {
	leakcheck.Check(t)
	a, b := pair(t, unix.SOCK_SEQPACKET)
	if _, err := TrySendFds(a, []*fdio.FD{a, a, a}, []byte("x")); err != nil {
		t.Fatal(err)
	}
	_, err := recv(t, b, RecvOptions{MaxFds: 2})
	var se *sys.Error
	if !errors.As(err, &se) || se.Name() != "MSG_CTRUNC" || !strings.Contains(se.Hint, "2 arrived and were closed") {
		t.Fatalf("err = %v", err)
	}
	// No room at all: every fd is lost, and that is loud too.
	TrySendFds(a, []*fdio.FD{a}, []byte("y"))
	if _, err := recv(t, b, RecvOptions{NoFds: true}); err == nil || !strings.Contains(err.Error(), "MSG_CTRUNC") {
		t.Fatalf("NoFds: %v", err)
	}
}

func TestEndOfStreamVersusEmptyMessage(t *testing.T) {
	leakcheck.Check(t)
	for _, typ := range []int{unix.SOCK_SEQPACKET, unix.SOCK_DGRAM} {
		a, b := pair(t, typ)
		TrySendFds(a, nil, nil)
		m, err := recv(t, b, RecvOptions{})
		if err != nil || m.EOF || len(m.Data) != 0 {
			t.Fatalf("type %d: empty message read as %+v, %v", typ, m, err)
		}
	}
	for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_SEQPACKET} {
		a, b := pair(t, typ)
		a.Close()
		m, err := recv(t, b, RecvOptions{})
		if err != nil || !m.EOF {
			t.Fatalf("type %d: closed peer read as %+v, %v", typ, m, err)
		}
	}
}

func TestTryAcceptAndDial(t *testing.T) {
	leakcheck.Check(t)
	a, _ := addr.Parse("tcp:127.0.0.1:0")
	l, err := ListenOn(a, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := TryAccept(l); !fdio.IsAgain(err) {
		t.Fatalf("TryAccept with nothing pending: %v", err)
	}
	in, _ := l.Info()
	ta, _ := addr.Parse(in.Socket.Local)
	c, pending, err := Dial(unix.SOCK_STREAM, ta)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if pending {
		if err := fdio.Block(c, unix.POLLOUT, 5*time.Second, "connect", func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := FinishDial(c, ta); err != nil {
			t.Fatal(err)
		}
	}
	n, _ := c.Num()
	if fl, _ := sys.GetFl(n); fl&unix.O_NONBLOCK != 0 {
		t.Error("a dialled socket must be handed out blocking")
	}
	var s *fdio.FD
	fdio.Block(l, unix.POLLIN, 5*time.Second, "accept", func() error { s, err = TryAccept(l); return err })
	if s == nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestPeerCredentials(t *testing.T) {
	leakcheck.Check(t)
	a, _ := pair(t, unix.SOCK_STREAM)
	p, err := Peer(a)
	if err != nil {
		t.Fatal(err)
	}
	if p.Pid != unix.Getpid() || p.Uid != unix.Getuid() {
		t.Fatalf("%+v", p)
	}
	if p.Pidfd != nil {
		p.Pidfd.Close()
	}
}

// TryRecvFdsInto reuses one Message: each receive overwrites the data (in
// the same backing array) and numbers, the descriptors are owned numbers
// as with Raw, and a truncation's error keeps a copy of its data that the
// next receive into the same Message does not overwrite.
func TestRecvIntoReusesAndKeepsErrors(t *testing.T) {
	leakcheck.Check(t)
	a, b := pair(t, unix.SOCK_SEQPACKET)
	var m Message
	for i, d := range []string{"first", "2nd", "third!"} {
		if _, err := TrySendFds(a, []*fdio.FD{a}, []byte(d)); err != nil {
			t.Fatal(err)
		}
		if err := TryRecvFdsInto(b, RecvOptions{Raw: true, MaxData: 64}, &m); err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != d || len(m.Nums) != 1 || m.Fds != nil || m.EOF {
			t.Fatalf("round %d: data %q nums %v", i, m.Data, m.Nums)
		}
		if fl, err := unix.FcntlInt(uintptr(m.Nums[0]), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
			t.Fatalf("received fd %d not close-on-exec: %v", m.Nums[0], err)
		}
		sys.Close(int(m.Nums[0]))
	}
	TrySendFds(a, []*fdio.FD{a, a, a}, []byte("kept"))
	err := TryRecvFdsInto(b, RecvOptions{Raw: true, MaxFds: 1}, &m)
	var se *sys.Error
	if !errors.As(err, &se) || se.Name() != "MSG_CTRUNC" {
		t.Fatalf("err = %v", err)
	}
	TrySendFds(a, nil, []byte("over"))
	if err := TryRecvFdsInto(b, RecvOptions{}, &m); err != nil || string(m.Data) != "over" {
		t.Fatalf("after: %q %v", m.Data, err)
	}
	if d, _ := se.Facts["data"].([]byte); string(d) != "kept" {
		t.Fatalf("the error's data became %q", d)
	}
	// end of stream reads as EOF with nothing owned
	a.Close()
	if err := TryRecvFdsInto(b, RecvOptions{Raw: true}, &m); err != nil || !m.EOF || len(m.Nums) != 0 {
		t.Fatalf("eof: %+v %v", m, err)
	}
}

// TrySendNums sends exactly the numbers given, and refuses more than
// SCM_MAX_FD before any system call, as TrySendFds does.
func TestTrySendNums(t *testing.T) {
	leakcheck.Check(t)
	a, b := pair(t, unix.SOCK_SEQPACKET)
	n, _ := a.Num()
	if _, err := TrySendNums(a, []int{n, n}, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	var m Message
	if err := TryRecvFdsInto(b, RecvOptions{Raw: true}, &m); err != nil || string(m.Data) != "hi" || len(m.Nums) != 2 {
		t.Fatalf("%q %v %v", m.Data, m.Nums, err)
	}
	for _, x := range m.Nums {
		sys.Close(int(x))
	}
	many := make([]int, MaxFdsPerMessage+1)
	for i := range many {
		many[i] = n
	}
	if _, err := TrySendNums(a, many, []byte("x")); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("254 fds: %v", err)
	}
}

// Without Raw, TryRecvFdsInto makes new handles per message in a reused
// list: the handles of one message stay valid after the next receive.
func TestRecvIntoHandlesAreNewEachTime(t *testing.T) {
	leakcheck.Check(t)
	a, b := pair(t, unix.SOCK_SEQPACKET)
	var m Message
	var kept []*fdio.FD
	for i := 0; i < 3; i++ {
		if _, err := TrySendFds(a, []*fdio.FD{a, a}, []byte("h")); err != nil {
			t.Fatal(err)
		}
		if err := TryRecvFdsInto(b, RecvOptions{}, &m); err != nil || len(m.Fds) != 2 || m.Nums != nil && len(m.Nums) != 0 {
			t.Fatalf("round %d: %+v %v", i, m, err)
		}
		kept = append(kept, m.Fds...)
	}
	seen := map[int]bool{}
	for _, f := range kept {
		n, err := f.Num()
		if err != nil || seen[n] {
			t.Fatalf("handle %v: %d %v", f, n, err)
		}
		seen[n] = true
	}
	for _, f := range kept {
		f.Close()
	}
}
