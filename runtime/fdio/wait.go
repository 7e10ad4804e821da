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
// would block: where, asked after each EAGAIN, names what to poll. A
// negative timeout does not wait at all: a call that would block fails
// with ETIMEDOUT at once.
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
		if timeout < 0 {
			return TimeoutAt(op, Describe(f), -1)
		}
		ms := -1
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return TimeoutAt(op, Describe(f), timeout)
			}
			ms = int(left/time.Millisecond) + 1
		}
		if _, err := sys.Poll([]unix.PollFd{{Fd: int32(n), Events: events}}, ms); err != nil {
			return err
		}
	}
}

// TimeoutError is the error of every wait that ran out of time.
func TimeoutError(op string, d time.Duration) error { return TimeoutAt(op, "", d) }

// TimeoutAt is TimeoutError naming the object waited on ("<fd 7 pipe>"):
// "read <fd 7 pipe>: ETIMEDOUT: no data within 1s". A negative d is a
// timeout of 0, which does not wait.
func TimeoutAt(op, addr string, d time.Duration) error {
	what := timeoutWords(op)
	if what == "" {
		what = "no result"
	}
	when := "within " + d.String()
	if d < 0 {
		when = "ready now, and timeout = 0 does not wait"
	}
	return &sys.Error{Op: op, Addr: addr, Err: unix.ETIMEDOUT, Hint: what + " " + when, Plain: true}
}

// timeoutWords says what did not happen in time, per operation.
func timeoutWords(op string) string {
	switch op {
	case "read":
		return "no data"
	case "recvfds", "recvfrom":
		return "no message"
	case "write":
		return "no room to write"
	case "sendfds", "sendto":
		return "no room to send"
	case "accept":
		return "no connection"
	case "connect":
		return "not connected"
	case "splice":
		return "nothing to move"
	case "wait":
		return "not ended"
	case "ready":
		return "not ready"
	case "sleep":
		return "not woken"
	case "yield":
		return "not resumed"
	case "Event:wait":
		return "not set or notified"
	}
	return ""
}

// Describe names a handle for an error: "<fd 7 pipe>", or "fd 7" when
// the kernel cannot say more.
func Describe(f *FD) string {
	if f == nil {
		return ""
	}
	if in, err := f.Info(); err == nil {
		return in.String()
	}
	if n := f.Raw(); n >= 0 {
		return sys.FdAddr(n)
	}
	return "<fd closed>"
}
