package fdio

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Two registries in one process list and close only their own handles.
func TestRegistriesAreSeparate(t *testing.T) {
	before := CountOpen()
	a, b := NewRegistry(), NewRegistry()
	ar, aw, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	a.Adopt(ar, "a-read")
	a.Adopt(aw, "a-write")
	br, bw, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b.AdoptAll([]*FD{br, bw}, []any{"b-read", "b-write"})
	if a.Len() != 2 || b.Len() != 2 {
		t.Fatalf("lengths %d %d", a.Len(), b.Len())
	}
	if v, ok := b.Value(bw); !ok || v != "b-write" {
		t.Fatalf("value %v %v", v, ok)
	}
	if _, ok := a.Value(br); ok {
		t.Fatal("registry a lists b's handle")
	}
	l := a.List()
	if len(l) != 2 || l[0].FD.Raw() > l[1].FD.Raw() {
		t.Fatalf("list not by number: %v", l)
	}
	a.CloseAll()
	if !ar.Closed() || !aw.Closed() || br.Closed() || bw.Closed() || a.Len() != 0 {
		t.Fatal("closing registry a must close a's handles and only those")
	}
	// A closed handle leaves the registry before its number is reused.
	n := br.Raw()
	br.Close()
	m, err := Memfd("reuse")
	if err != nil {
		t.Fatal(err)
	}
	if m.Raw() == n {
		if _, ok := b.Value(m); ok {
			t.Fatal("an unadopted handle on a reused number is listed")
		}
	}
	b.Adopt(m, nil)
	if b.Len() != 2 {
		t.Fatalf("len %d, want 2", b.Len())
	}
	// Release gives the number up and leaves the registry.
	rn := m.Release()
	unix.Close(rn)
	b.CloseAll()
	if CountOpen() != before {
		t.Fatalf("fds: %d before, %d after", before, CountOpen())
	}
}

// A borrowed handle is never listed: the registry lists what its owner
// must close.
func TestRegistryIgnoresBorrowed(t *testing.T) {
	r := NewRegistry()
	r.Adopt(Borrow(1), nil)
	if r.Len() != 0 {
		t.Fatal("borrowed handle adopted")
	}
}

// Anonymous inodes have file type 0: the type is still asked only once.
func TestFileTypeOfAnonInodeIsCached(t *testing.T) {
	e, err := Eventfd(0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if ty, err := e.FileType(); err != nil || ty != 0 {
		t.Fatalf("eventfd type %o %v", ty, err)
	}
	e.mu.Lock()
	known := e.classKnown
	e.mu.Unlock()
	if !known {
		t.Fatal("file type 0 was not cached: every operation would fstat again")
	}
}

func BenchmarkRegistryAdoptClose(b *testing.B) {
	reg := NewRegistry()
	for i := 0; i < b.N; i++ {
		f, err := Eventfd(0)
		if err != nil {
			b.Fatal(err)
		}
		reg.Adopt(f, nil)
		f.Close()
	}
}
