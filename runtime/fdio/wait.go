package fdio

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// Ready reports, without blocking, whether n has any of events pending.
func Ready(n int, events int16) (int16, error) {
	p := []unix.PollFd{{Fd: int32(n), Events: events}}
	if _, err := sys.Poll(p, 0); err != nil {
		return 0, err
	}
	return p[0].Revents, nil
}

// IsAgain reports whether err means "would block".
func IsAgain(err error) bool { return errors.Is(err, unix.EAGAIN) }

// ErrAgain is returned by the Try* operations when they would block.
var ErrAgain = &sys.Error{Op: "try", Err: unix.EAGAIN}

// Block runs try until it stops returning EAGAIN, polling f for events in
// between. It is the blocking form of the Try* operations for Go callers
// that have no loop; a zero timeout waits forever.
func Block(f *FD, events int16, timeout time.Duration, op string, try func() error) error {
	return BlockWhere(func() (*FD, int16) { return f, events }, timeout, op, try)
}

// BlockWhere is Block for operations whose wait depends on why they
// would block: where, asked after each EAGAIN, names what to poll.
func BlockWhere(where func() (*FD, int16), timeout time.Duration, op string, try func() error) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		err := try()
		if !IsAgain(err) {
			return err
		}
		f, events := where()
		n, err := f.Num()
		if err != nil {
			return err
		}
		ms := -1
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return TimeoutError(op, timeout)
			}
			ms = int(left/time.Millisecond) + 1
		}
		if _, err := sys.Poll([]unix.PollFd{{Fd: int32(n), Events: events}}, ms); err != nil {
			return err
		}
	}
}

// TimeoutError is the error of every wait that ran out of time.
func TimeoutError(op string, d time.Duration) error {
	return &sys.Error{Op: op, Err: unix.ETIMEDOUT, Hint: "no result within " + d.String()}
}
