package fdio

import (
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// SpliceWait says what a TrySplice that returned EAGAIN waits for: in to
// become readable or out to become writable.
type SpliceWait struct {
	F      *FD
	Events int16
}

// TrySplice moves up to n bytes from in to out with splice(2), or returns
// EAGAIN and what to wait for. SPLICE_F_NONBLOCK makes only this call
// non-blocking on the pipe side; a socket or terminal side is polled first,
// so no open file description changes. It returns 0 at end of input.
func TrySplice(in, out *FD, n int) (int, SpliceWait, error) {
	inN, inT, err := numAndType(in)
	if err != nil {
		return 0, SpliceWait{}, err
	}
	outN, outT, err := numAndType(out)
	if err != nil {
		return 0, SpliceWait{}, err
	}
	if inT != unix.S_IFIFO && outT != unix.S_IFIFO {
		return 0, SpliceWait{}, sys.Errorf("splice", sys.FdAddr(inN)+" to "+sys.FdAddr(outN), unix.EINVAL,
			"one of the two descriptors must be a pipe: splice moves data through a pipe's buffer")
	}
	if err := readyOrAgain(inN, inT, unix.POLLIN); err != nil {
		return 0, SpliceWait{in, unix.POLLIN}, err
	}
	if err := readyOrAgain(outN, outT, unix.POLLOUT); err != nil {
		return 0, SpliceWait{out, unix.POLLOUT}, err
	}
	moved, err := sys.Splice(inN, outN, n, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
	if IsAgain(err) {
		// Which side was it? The reader may have been drained, or the
		// writer filled, by another process between the poll and the call.
		if rev, _ := Ready(inN, unix.POLLIN); rev == 0 {
			return 0, SpliceWait{in, unix.POLLIN}, ErrAgain
		}
		return 0, SpliceWait{out, unix.POLLOUT}, ErrAgain
	}
	return moved, SpliceWait{}, err
}
