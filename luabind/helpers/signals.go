package helpers

import (
	"os"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/reap"
	"github.com/fdwire/fdwire/runtime/sigwatch"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Signals is the signal module (signal.watch) and proc.pidfd_open: what
// activate needs to forward signals to COMMAND, hold to go lame-duck on
// SIGTERM, and send to check a PID:INODE.
func Signals() luabind.Module {
	return luabind.Module{Name: "signal", Open: func(rt *luabind.Runtime, L *lua.LState) error {
		h := host{rt}
		rt.Register(L, "signal", map[string]lua.LGFunction{"watch": h.signalWatch, "stop": h.signalStop})
		_, err := rt.Extend(L, "proc", map[string]lua.LGFunction{"pidfd_open": h.procPidfdOpen})
		return err
	}}
}

// uncatchable and the ones the Go runtime needs for itself are refused.
var notWatchable = map[unix.Signal]string{
	unix.SIGKILL: "cannot be caught", unix.SIGSTOP: "cannot be caught",
	unix.SIGURG: "is the Go runtime's preemption signal", unix.SIGCHLD: "is the reaper's",
	unix.SIGSEGV: "is a fault", unix.SIGBUS: "is a fault", unix.SIGFPE: "is a fault", unix.SIGILL: "is a fault",
	unix.SIGPROF: "is the profiler's",
}

// signalWatch: signal.watch{"HUP", "TERM", ...} -> Fd readable with one
// byte (the signal number) per signal that arrived. Until it is closed
// those signals no longer have their default effect (ending fdwire). A
// burst beyond the pipe's buffer is dropped rather than blocking.
func (rt host) signalWatch(L *lua.LState) int {
	const fn = "signal.watch"
	list, ok := L.Get(1).(*lua.LTable)
	if !ok || list.Len() == 0 {
		return rt.ArgError(L, fn, 1, "signals", "expected a list of signal names such as {\"HUP\", \"TERM\"}, got %s", luabind.TypeName(L.Get(1)))
	}
	var sigs []os.Signal
	for i := 1; i <= list.Len(); i++ {
		name, ok := list.RawGetInt(i).(lua.LString)
		if !ok {
			return rt.ArgError(L, fn, 1, "signals", "signals[%d] is a %s, not a signal name", i, luabind.TypeName(list.RawGetInt(i)))
		}
		s, err := sys.SignalByName(string(name))
		if err != nil {
			return rt.ArgError(L, fn, 1, "signals", "unknown signal %q", string(name))
		}
		if why, bad := notWatchable[s]; bad {
			return rt.ArgError(L, fn, 1, "signals", "%s %s", string(name), why)
		}
		sigs = append(sigs, s)
	}
	r, err := sigwatch.Watch(sigs, nil)
	if err != nil {
		return rt.Raise(L, err)
	}
	rt.NoteSignalWatch(sigs, 1) // the CLI's fallback leaves these to us
	r.OnClose(func() { rt.NoteSignalWatch(sigs, -1) })
	L.Push(rt.NewFd(L, r))
	return 1
}

// procPidfdOpen: proc.pidfd_open(pid) -> Fd, a pidfd for pid (its inode,
// from fd.info, names that process for the boot on Linux 6.9+).
func (rt host) procPidfdOpen(L *lua.LState) int {
	pid := int(rt.Args(L, "proc.pidfd_open").Int(1, "pid", luabind.RangePid))
	n, err := sys.PidfdOpen(pid, 0)
	if err != nil {
		return rt.Raise(L, err)
	}
	L.Push(rt.NewFd(L, fdio.Own(n)))
	return 1
}

// signalStop: signal.stop() stops this process (SIGSTOP to itself) until
// a SIGCONT: what a signal forwarder does after passing on TSTP, TTIN or
// TTOU, so that job control sees the whole job stop.
func (rt host) signalStop(L *lua.LState) int {
	if err := reap.Signal(os.Getpid(), unix.SIGSTOP); err != nil {
		return rt.Raise(L, err)
	}
	return 0
}
