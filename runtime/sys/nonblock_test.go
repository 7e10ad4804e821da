package sys

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// "Would block" is the common answer of the try-first calls on a busy
// socket: it comes back as the bare EAGAIN, with nothing allocated, and
// still reads as EAGAIN to errors.Is.
func TestDontwaitEAGAINAllocatesNothing(t *testing.T) {
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	buf := make([]byte, 64)
	for { // fill the queue
		if _, err := SendmsgDontwait(p[0], buf, nil, 0); err != nil {
			if !errors.Is(err, unix.EAGAIN) {
				t.Fatal(err)
			}
			break
		}
	}
	if a := testing.AllocsPerRun(100, func() {
		if _, err := SendmsgDontwait(p[0], buf, nil, 0); !errors.Is(err, unix.EAGAIN) {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("sendmsg EAGAIN: %v allocations", a)
	}
	var empty [2]int
	if empty, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(empty[0])
	defer unix.Close(empty[1])
	if a := testing.AllocsPerRun(100, func() {
		if _, _, _, err := RecvmsgDontwait(empty[0], buf, nil, 0); !errors.Is(err, unix.EAGAIN) {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("recvmsg EAGAIN: %v allocations", a)
	}
	// Other errors still name the call and the descriptor.
	if _, err := SendmsgDontwait(-1, buf, nil, 0); err == nil || err.Error() == unix.EBADF.Error() {
		t.Errorf("sendmsg on fd -1: %v (want a wrapped EBADF)", err)
	}
}
