package diag

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

func TestProcFdsAndPeers(t *testing.T) {
	leakcheck.Check(t)
	p := make([]int, 2)
	if err := unix.Pipe2(p, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	fds, err := ProcFds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	by := map[int]Fd{}
	for _, f := range fds {
		by[f.Num] = f
	}
	r, w := by[p[0]], by[p[1]]
	if r.Kind != "pipe" || r.Ino != w.Ino || r.Access != "r" || w.Access != "w" {
		t.Fatalf("pipe ends: %+v %+v", r, w)
	}
	a, b := by[sp[0]], by[sp[1]]
	if a.Kind != "socket" || a.Ino == b.Ino {
		t.Fatalf("pair ends: %+v %+v", a, b)
	}
	socks, err := UnixSockets()
	if err != nil {
		t.Fatal(err)
	}
	sa := socks[a.Ino]
	if !sa.PeerKnown {
		t.Skip("no unix_diag in this kernel: peers unknown")
	}
	if sa.Peer != b.Ino || socks[b.Ino].Peer != a.Ino || sa.State != "connected" || sa.Type != "stream" {
		t.Fatalf("peers: %+v %+v", sa, socks[b.Ino])
	}
	m, err := procNetUnix()
	if err != nil || m[a.Ino].State != "connected" {
		t.Fatalf("/proc/net/unix: %v %+v", err, m[a.Ino])
	}
}

func TestProcFdsOfMissingProcess(t *testing.T) {
	if _, err := ProcFds(1 << 30); err == nil {
		t.Fatal("expected an error for a pid that does not exist")
	}
}
