package sigwatch

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/sys"
)

// readByte blocks in poll (no timeout: the signal was already sent) and
// reads one byte of r.
func readByte(t *testing.T, fd int) byte {
	t.Helper()
	// sys.Poll reports EINTR as 0 ready: poll until fd is readable.
	for pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}; pfd[0].Revents == 0; {
		if _, err := sys.Poll(pfd, -1); err != nil {
			t.Fatal(err)
		}
	}
	b := make([]byte, 1)
	if n, err := sys.Read(fd, b); n != 1 || err != nil {
		t.Fatalf("read %d %v", n, err)
	}
	return b[0]
}

func TestWatchDeliversAndIntercepts(t *testing.T) {
	leakcheck.Check(t)
	swallowed := make(chan unix.Signal, 1)
	r, err := Watch([]os.Signal{unix.SIGUSR1, unix.SIGUSR2}, func(s unix.Signal) bool {
		if s == unix.SIGUSR2 {
			swallowed <- s
			return true
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n, _ := r.Num()
	unix.Kill(os.Getpid(), unix.SIGUSR2)
	if s := <-swallowed; s != unix.SIGUSR2 {
		t.Fatalf("intercepted %v", s)
	}
	unix.Kill(os.Getpid(), unix.SIGUSR1)
	if b := readByte(t, n); unix.Signal(b) != unix.SIGUSR1 {
		t.Fatalf("got signal %d, want SIGUSR1 (the swallowed SIGUSR2 must not appear)", b)
	}
}
