package diag

import (
	"errors"
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

// TestSameFile: kcmp tells a dup (one open file description) from a
// second eventfd (same anonymous inode, different description), which
// device and inode cannot.
func TestSameFile(t *testing.T) {
	leakcheck.Check(t)
	a, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(a)
	b, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(b)
	d, err := unix.FcntlInt(uintptr(a), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(d)
	var sa, sb unix.Stat_t
	unix.Fstat(a, &sa)
	unix.Fstat(b, &sb)
	if sa.Ino != sb.Ino {
		t.Logf("this kernel gives eventfds their own inodes (%d, %d)", sa.Ino, sb.Ino)
	}
	pid := os.Getpid()
	if same, err := SameFile(pid, a, pid, d); err != nil || !same {
		t.Fatalf("a dup: same=%v err=%v", same, err)
	}
	if same, err := SameFile(pid, a, pid, b); err != nil || same {
		t.Fatalf("two eventfds: same=%v err=%v", same, err)
	}
	if _, err := SameAsOwn(pid, 1<<20, a); err == nil || !errors.Is(err, unix.EBADF) {
		t.Fatalf("a closed fd: %v, want EBADF", err)
	}
}
