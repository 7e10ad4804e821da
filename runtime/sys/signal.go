package sys

import (
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SignalByName maps "TERM", "SIGTERM" or "term" to a signal; anything
// else is an EINVAL naming it, never a default signal. This and
// SignalName are fdwire's one table of signal names (x/sys/unix's).
func SignalByName(s string) (unix.Signal, error) {
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "SIG") {
		u = "SIG" + u
	}
	if sig := unix.SignalNum(u); sig != 0 {
		return sig, nil
	}
	return 0, Errorf("kill", s, unix.EINVAL, "unknown signal %q", s)
}

// SignalName is the name of sig ("SIGTERM"), or "signal N" for a number
// without one (real-time signals).
func SignalName(sig unix.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "signal " + itoa(int(sig))
}

// Monotonic reads CLOCK_MONOTONIC: time since boot, not counting suspend,
// never moved by changes to the wall clock, and the same clock in every
// process on the machine (so a child's timestamps compare with ours).
func Monotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		// CLOCK_MONOTONIC cannot fail on Linux; make a broken clock loud.
		panic("clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return time.Duration(ts.Nano())
}
