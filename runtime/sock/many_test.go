package sock

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// The Go face of the batch API: a ManySend goes whole in one try on a
// socket with room; a ManyRecv gets every message, a truncated one
// carrying its own error with the others intact, and end of stream.
func TestManySendRecv(t *testing.T) {
	leakcheck.Check(t)
	a, b := pair(t, unix.SOCK_SEQPACKET)
	r, w, err := fdio.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	m := &ManySend{Op: "sendfds_many"}
	m.Add([]byte("one"), r)
	m.Add([]byte("two"), r, w, r)
	m.Add(nil)
	m.Add([]byte("four"), w)
	if err := m.Check(a); err != nil {
		t.Fatal(err)
	}
	if err := m.Try(a); err != nil || m.Sent != 4 {
		t.Fatalf("sent %d: %v", m.Sent, err)
	}
	a.Close()
	rc := GetManyRecv("recvfds_many")
	defer PutManyRecv(rc)
	if err := rc.Try(b, ManyOptions{Count: 8, RecvOptions: RecvOptions{MaxFds: 2}}); err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if len(rc.Msgs) != 4 || !rc.EOF {
		t.Fatalf("%d messages, eof %v", len(rc.Msgs), rc.EOF)
	}
	want := []struct {
		data string
		fds  int
		bad  bool
	}{{"one", 1, false}, {"", 0, true}, {"", 0, false}, {"four", 1, false}}
	for i, w := range want {
		g := rc.Msgs[i]
		if string(g.Data) != w.data || len(g.Fds) != w.fds || (g.Err != nil) != w.bad {
			t.Errorf("message %d: %q, %d fds, err %v", i+1, g.Data, len(g.Fds), g.Err)
		}
	}
	var se *sys.Error
	if !errors.As(rc.Msgs[1].Err, &se) || se.Label != "MSG_CTRUNC" || string(se.Facts["data"].([]byte)) != "two" || se.Facts["arrived"] != 2 {
		t.Errorf("truncated message: %#v", rc.Msgs[1].Err)
	}
	if len(rc.All) != 5 || rc.All[0] != rc.Msgs[0].Fds[0] || !rc.All[1].Closed() {
		t.Errorf("All: %d entries", len(rc.All))
	}
	// too many descriptors in one message: refused before any try
	big := &ManySend{Op: "sendfds_many"}
	c, d := pair(t, unix.SOCK_SEQPACKET)
	_ = d
	fds := make([]*fdio.FD, MaxFdsPerMessage+1)
	for i := range fds {
		fds[i] = r
	}
	big.Add([]byte("x"), fds...)
	if err := big.Check(c); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("254 fds: %v", err)
	}
}
