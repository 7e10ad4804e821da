package fdio

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOwnedHandleClosesOnceAndLeavesRegistry(t *testing.T) {
	before := CountOpen()
	reg := NewRegistry()
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	reg.AdoptAll([]*FD{r, w}, nil)
	inRegistry := func(f *FD) bool {
		for _, e := range reg.List() {
			if e.FD == f {
				return true
			}
		}
		return false
	}
	if !inRegistry(r) || !inRegistry(w) {
		t.Fatal("new handles must be in the registry")
	}
	hooks := 0
	r.OnClose(func() { hooks++ })
	n, _ := r.Num()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// A second close must not close whatever now has the same number.
	d, _ := Dup(w)
	if err := r.Close(); err != nil || hooks != 1 {
		t.Fatalf("second close: err %v, hooks %d", err, hooks)
	}
	if _, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0); d.Raw() == n && err != nil {
		t.Fatal("second Close closed a reused descriptor number")
	}
	if _, err := r.Num(); !errors.Is(err, unix.EBADF) {
		t.Fatalf("Num after close: %v", err)
	}
	if inRegistry(r) {
		t.Fatal("closed handle still in the registry")
	}
	w.Close()
	d.Close()
	if CountOpen() != before {
		t.Fatalf("fds: %d before, %d after", before, CountOpen())
	}
}

func TestBorrowedIsNeverClosed(t *testing.T) {
	b := Borrow(2)
	b.Close()
	if _, err := unix.FcntlInt(2, unix.F_GETFD, 0); err != nil {
		t.Fatal("closing a borrowed handle closed the descriptor")
	}
	in, err := Stat(2)
	if err != nil || in.Num != 2 {
		t.Fatal(err)
	}
}

func TestInfoDescribesKinds(t *testing.T) {
	m, err := Memfd("k")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	in, err := m.Info()
	if err != nil || in.Kind != "memfd" || !in.Cloexec || !in.Owned {
		t.Fatalf("%+v %v", in, err)
	}
	e, _ := Eventfd(0)
	defer e.Close()
	if in, _ := e.Info(); in.Kind != "eventfd" {
		t.Fatalf("eventfd kind %q", in.Kind)
	}
	p, err := OpenFile("/", unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if in, _ := p.Info(); !in.Path || in.Kind != "dir" {
		t.Fatalf("O_PATH dir: %+v", in)
	}
}

// TryWrite on a handle of unknown type tries send(2) first: a socket is
// written and remembered as one without fstat; a pipe says ENOTSOCK and
// is written through the fstat path, and remembered as a fifo.
func TestTryWriteUnknownType(t *testing.T) {
	before := CountOpen()
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := Own(sp[0]), Own(sp[1])
	defer a.Close()
	defer b.Close()
	for _, tc := range []struct {
		w, r *FD
		want uint32
	}{{w, r, unix.S_IFIFO}, {a, b, unix.S_IFSOCK}} {
		if n, err := TryWrite(tc.w, []byte("hi")); n != 2 || err != nil {
			t.Fatalf("TryWrite: %d, %v", n, err)
		}
		buf := make([]byte, 8)
		rn, _ := tc.r.Num()
		if n, err := unix.Read(rn, buf); n != 2 || err != nil || string(buf[:2]) != "hi" {
			t.Fatalf("read back %q, %v", buf[:n], err)
		}
		tc.w.mu.Lock()
		c, known := tc.w.class, tc.w.classKnown
		tc.w.mu.Unlock()
		if !known || c != tc.want {
			t.Errorf("type remembered: %o known %v, want %o", c, known, tc.want)
		}
	}
	r.Close()
	w.Close()
	a.Close()
	b.Close()
	if CountOpen() != before {
		t.Fatalf("descriptors leaked: %d -> %d", before, CountOpen())
	}
}
