// Package sys wraps the Linux system calls fdwire uses, once each, with
// EINTR retried in one place and failures returned as *Error values that
// carry the operation, the object (address or path) and the errno.
package sys

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// Error is the one error type of the runtime, modelled on os.SyscallError
// and net.OpError: Op names the operation, Addr the object it acted on
// (an address, a path, "fd 7"), Err the cause (usually a unix.Errno).
// Hint, when set, explains what the errno means in this context.
type Error struct {
	Op   string
	Addr string
	Err  error
	// Label overrides the errno name for conditions that have no errno of
	// their own (for example "MSG_CTRUNC").
	Label string
	Hint  string
	// Plain makes Hint the whole message, without the kernel's text for
	// the errno ("no data within 1s" rather than "connection timed out").
	Plain bool
	// Facts are what the failed call still did or received (written,
	// delivered, data), so nothing is lost in silence: ints, strings or
	// byte slices, keyed by the field name they get in a Lua error.
	Facts map[string]any
}

// Fact returns a copy of err's *Error with fact key set to v (or wraps a
// plain error).
func Fact(err error, key string, v any) error {
	var se *Error
	c := Error{Op: "?", Err: err}
	if errors.As(err, &se) {
		c = *se
	}
	m := make(map[string]any, len(c.Facts)+1)
	for k, x := range c.Facts {
		m[k] = x
	}
	m[key] = v
	c.Facts = m
	return &c
}

func (e *Error) Error() string { return Format(e.Op, e.Addr, e.Name(), e.Msg()) }

// Format is fdwire's one way to write an error, in Go and in Lua (the
// error values' __tostring): "connect unix:/run/x.sock: ECONNREFUSED:
// connection refused", the object left out when there is none.
func Format(op, addr, name, msg string) string {
	s := op
	if addr != "" {
		s += " " + addr
	}
	return s + ": " + name + ": " + msg
}

// Unwrap lets callers use errors.Is(err, unix.ECONNREFUSED).
func (e *Error) Unwrap() error { return e.Err }

// Errno is the kernel's error number, or 0 when the error has none.
func (e *Error) Errno() unix.Errno {
	var en unix.Errno
	if errors.As(e.Err, &en) {
		return en
	}
	return 0
}

// Name is the symbolic errno ("ECONNREFUSED") or the Label.
func (e *Error) Name() string {
	if e.Label != "" {
		return e.Label
	}
	if en := e.Errno(); en != 0 {
		if n := unix.ErrnoName(en); n != "" {
			return n
		}
		return fmt.Sprintf("errno %d", int(en))
	}
	return "ERROR"
}

// Msg is the kernel's text for the errno followed by the hint, if any.
func (e *Error) Msg() string {
	var s string
	if e.Plain && e.Hint != "" {
		return e.Hint
	}
	if e.Errno() != 0 {
		s = e.Errno().Error()
	} else if e.Err != nil {
		s = e.Err.Error()
	}
	if e.Hint != "" {
		if s != "" {
			s += " (" + e.Hint + ")"
		} else {
			s = e.Hint
		}
	}
	return s
}

// Wrap returns nil for a nil err and an *Error otherwise.
func Wrap(op, addr string, err error) error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) && se.Op == op {
		return err
	}
	return &Error{Op: op, Addr: addr, Err: err}
}

// Errorf builds an *Error with an errno and an explanation.
func Errorf(op, addr string, errno unix.Errno, format string, args ...any) error {
	return &Error{Op: op, Addr: addr, Err: errno, Hint: fmt.Sprintf(format, args...)}
}

// WithHint adds an explanation to an *Error (or wraps a plain error).
func WithHint(err error, hint string) error {
	var se *Error
	if errors.As(err, &se) {
		c := *se
		if c.Hint != "" {
			c.Hint += "; " + hint
		} else {
			c.Hint = hint
		}
		return &c
	}
	return &Error{Op: "?", Err: err, Hint: hint}
}

// FdAddr formats a descriptor number as an error's object. Every syscall
// wrapper calls it, error or not, so it avoids fmt (whose Sprintf was a
// measurable share of each fd-passing message).
func FdAddr(fd int) string { return "fd " + strconv.Itoa(fd) }
