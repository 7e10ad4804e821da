package luabind

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/proc"
	"github.com/fdwire/fdwire/runtime/sys"
)

func (rt *Runtime) openProc(L *lua.LState) {
	rt.procMeta, _ = rt.methods(L, "Proc", map[string]lua.LGFunction{
		"pid":     rt.procPid,
		"pidfd":   rt.procPidfd,
		"wait":    rt.procWait,
		"kill":    rt.procKill,
		"running": rt.procRunning,
		"ready":   rt.procReady,
		"notices": rt.procNotices,
		"fdstore": rt.procFdstore,
		"getfd":   rt.procGetfdMethod,
		"stdin":   rt.procStdio(0),
		"stdout":  rt.procStdio(1),
		"stderr":  rt.procStdio(2),
	}, "wait", "ready")
	rt.procMeta.RawSetString("__tostring", L.NewFunction(rt.procToString))
	rt.register(L, "proc", map[string]lua.LGFunction{
		"spawn": rt.procSpawn,
		"exec":  rt.procExec,
		"getfd": rt.procGetfd,
		"self":  rt.procSelf,
	})
}

func (rt *Runtime) checkProc(L *lua.LState, fn string) *proc.Proc {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if p, ok := ud.Value.(*proc.Proc); ok {
			return p
		}
	}
	rt.argError(L, fn, 1, "self", "expected a Proc, got %s", typeName(L.Get(1)))
	return nil
}

// procSpawn: proc.spawn{"prog", "arg", ..., fds=, env=, ...}; see docs/proc.md.
func (rt *Runtime) procSpawn(L *lua.LState) int {
	a := rt.checkSpawnSpec(L, "proc.spawn", false)
	p, err := rt.owner.Spawn(a)
	if err != nil {
		return rt.raise(L, err)
	}
	ud := rt.newProc(L, p)
	if p.Stdin != nil || p.Stdout != nil || p.Stderr != nil {
		ends := L.CreateTable(0, 4)
		ends.RawSetString(stdioMark, lua.LTrue)
		for i, f := range []*fdio.FD{p.Stdin, p.Stdout, p.Stderr} {
			if f != nil {
				ends.RawSetInt(i+1, rt.newFd(L, f))
			}
		}
		ud.Env = ends
	}
	L.Push(ud)
	return 1
}

// stdioMark tags the table kept in a Proc userdata's Env that holds the
// parent ends of its "pipe" streams (Env is otherwise the globals).
const stdioMark = "fdwire.stdio"

// procExec: proc.exec{...} replaces this process; it returns only on error.
func (rt *Runtime) procExec(L *lua.LState) int {
	a := rt.checkSpawnSpec(L, "proc.exec", true)
	// The warden would outlive the exec as a stray child of the new
	// program: let it go (the next Watch, if exec fails, starts another).
	rt.Warden().Pause()
	return rt.raise(L, rt.owner.Exec(a))
}

func (rt *Runtime) newProc(L *lua.LState, p *proc.Proc) *lua.LUserData {
	ud := L.NewUserData()
	ud.Value = p
	L.SetMetatable(ud, rt.procMeta)
	return ud
}

// reaped keeps what a reaped child stored with FDSTORE=1.
func (rt *Runtime) reaped(p *proc.Proc) { rt.adoptFdstore(p) }

func (rt *Runtime) procPid(L *lua.LState) int {
	L.Push(lua.LNumber(rt.checkProc(L, "Proc:pid").Pid))
	return 1
}

func (rt *Runtime) procPidfd(L *lua.LState) int {
	p := rt.checkProc(L, "Proc:pidfd")
	d, err := fdio.Dup(p.Pidfd)
	if err != nil {
		return rt.raise(L, sys.WithHint(err, "the process has been reaped; its pidfd is closed"))
	}
	L.Push(rt.newFd(L, d))
	return 1
}

func (rt *Runtime) procStdio(i int) lua.LGFunction {
	name := []string{"Proc:stdin", "Proc:stdout", "Proc:stderr"}[i]
	return func(L *lua.LState) int {
		rt.checkProc(L, name)
		ud := L.Get(1).(*lua.LUserData)
		if ud.Env != nil && ud.Env.RawGetString(stdioMark) == lua.LTrue {
			if v := ud.Env.RawGetInt(i + 1); v != lua.LNil {
				L.Push(v)
				return 1
			}
		}
		L.Push(lua.LNil)
		return 1
	}
}

func (rt *Runtime) procRunning(L *lua.LState) int {
	p := rt.checkProc(L, "Proc:running")
	run, err := p.Running()
	if err != nil {
		return rt.raise(L, err)
	}
	if !run {
		rt.reaped(p)
	}
	L.Push(lua.LBool(run))
	return 1
}

func statusValues(L *lua.LState, p *proc.Proc, s *proc.Status) []lua.LValue {
	// Sized: L.NewTable preallocates some 3 KB, once per wait.
	t := L.CreateTable(0, 5)
	t.RawSetString("pid", lua.LNumber(p.Pid))
	var first lua.LValue
	if s.Exited {
		t.RawSetString("code", lua.LNumber(s.Code))
		first = lua.LNumber(s.Code)
	} else {
		name := sys.SignalName(s.Signal)
		t.RawSetString("signal", lua.LString(name))
		t.RawSetString("signo", lua.LNumber(s.Signal))
		t.RawSetString("core", lua.LBool(s.Core))
		first = lua.LString(name)
	}
	return []lua.LValue{first, t}
}

func (rt *Runtime) procWait(L *lua.LState) int {
	p := rt.checkProc(L, "Proc:wait")
	timeout := rt.Args(L, "Proc:wait").Opts(2, "opts", "timeout").Timeout()
	if s := p.Status(); s != nil {
		rt.reaped(p)
		return rt.pushOK(L, statusValues(L, p, s))
	}
	where := func() (*fdio.FD, int16) { return p.Pidfd, unix.POLLIN }
	// A timeout names the process, not its pidfd: "wait <proc 42 sleep>".
	name := func(e *lua.LTable) {
		if e.RawGetString("name") == lua.LString("ETIMEDOUT") {
			prog := ""
			if len(p.Argv) > 0 {
				prog = " " + p.Argv[0]
			}
			e.RawSetString("addr", lua.LString(fmt.Sprintf("<proc %d%s>", p.Pid, prog)))
		}
	}
	return rt.parkCall(L, "wait", where, timeout, func() ([]lua.LValue, error) {
		s, err := p.TryWait()
		if err != nil {
			if s := p.Status(); s != nil { // another task reaped it
				return statusValues(L, p, s), nil
			}
			return nil, err
		}
		rt.reaped(p)
		return statusValues(L, p, s), nil
	}, name)
}

// procReady: Proc:ready{timeout=} waits for READY=1 (notify=true) or the
// newline on notify_fd, or fails when the child exits first.
func (rt *Runtime) procReady(L *lua.LState) int {
	p := rt.checkProc(L, "Proc:ready")
	timeout := rt.Args(L, "Proc:ready").Opts(2, "opts", "timeout").Timeout()
	try := func() ([]lua.LValue, error) {
		st, err := p.TryReady()
		if err != nil {
			return nil, err
		}
		t := L.CreateTable(0, 6)
		t.RawSetString("ready", lua.LTrue)
		t.RawSetString("via", lua.LString(st.Via))
		if st.Status != "" {
			t.RawSetString("status", lua.LString(st.Status))
		}
		vars := L.CreateTable(0, len(st.Vars))
		for k, v := range st.Vars {
			vars.RawSetString(k, lua.LString(v))
		}
		t.RawSetString("vars", vars)
		fds, names := L.CreateTable(len(st.Fds), 0), L.CreateTable(len(st.Fds), 0)
		for i, f := range st.Fds {
			fds.Append(rt.newFd(L, f))
			names.Append(lua.LString(st.FdNames[i]))
		}
		t.RawSetString("fds", fds)
		t.RawSetString("names", names)
		return []lua.LValue{t}, nil
	}
	if rt.sched.current == nil || L == rt.L {
		if _, err := p.WaitReady(timeout); err != nil && !fdio.IsAgain(err) {
			return rt.raise(L, err)
		}
		res, err := try()
		if err != nil {
			return rt.raise(L, err)
		}
		return rt.pushOK(L, res)
	}
	return rt.parkAny(L, "ready", func() []*fdio.FD { return append(p.ReadyFds(), p.Pidfd) }, timeout, try)
}

func (rt *Runtime) procKill(L *lua.LState) int {
	p := rt.checkProc(L, "Proc:kill")
	sig := unix.SIGTERM
	switch v := L.Get(2).(type) {
	case *lua.LNilType:
	case lua.LNumber:
		// 0 sends nothing and only asks whether the process is there.
		sig = unix.Signal(rt.Args(L, "Proc:kill").Int(2, "sig", Range{0, RangeSignal.Max, "a signal number", "0 only asks whether the process exists"}))
	case lua.LString:
		s, err := proc.SignalByName(string(v))
		if err != nil {
			return rt.argError(L, "Proc:kill", 2, "sig", "%s", errMsg(err))
		}
		sig = s
	default:
		return rt.argError(L, "Proc:kill", 2, "sig", "expected a signal name or number, got %s", typeName(v))
	}
	if err := p.Kill(sig); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

func (rt *Runtime) procToString(L *lua.LState) int {
	p := rt.checkProc(L, "Proc:__tostring")
	state := "running"
	if s := p.Status(); s != nil {
		state = s.String()
	}
	L.Push(lua.LString(fmt.Sprintf("<proc %d %s>", p.Pid, state)))
	return 1
}

// getfdMode reads {mode="dup"|"reopen"}; "dup" (pidfd_getfd, which
// shares the open file description) is the default, "reopen" opens
// /proc/PID/fd/N (a new one).
func (rt *Runtime) getfdMode(L *lua.LState, fn string, n int) proc.GetFdMode {
	opts := rt.Args(L, fn).Opts(n, "opts", "mode")
	if opts.Enum("mode", "dup", "dup", "reopen") == "reopen" {
		return proc.GetFdReopen
	}
	return proc.GetFdDup
}

// rangeTargetFd is a descriptor number in another process: an int, which
// pidfd_getfd takes as it is (that process's limits are its own).
var rangeTargetFd = Range{0, 1<<31 - 1, "a descriptor number", "an int"}

// procGetfd: proc.getfd(pid_or_proc, n, {mode=}).
func (rt *Runtime) procGetfd(L *lua.LState) int {
	const fn = "proc.getfd"
	var pid int
	var pidfd *fdio.FD
	switch v := L.Get(1).(type) {
	case lua.LNumber:
		pid = int(rt.Args(L, fn).Int(1, "pid", RangePid))
	case *lua.LUserData:
		p, ok := v.Value.(*proc.Proc)
		if !ok {
			return rt.argError(L, fn, 1, "pid", "expected a pid or a Proc, got %s", typeName(v))
		}
		pid, pidfd = p.Pid, p.Pidfd
	default:
		return rt.argError(L, fn, 1, "pid", "expected a pid or a Proc, got %s", typeName(v))
	}
	n := int(rt.Args(L, fn).Int(2, "n", rangeTargetFd))
	return rt.getfd(L, pid, pidfd, n, rt.getfdMode(L, fn, 3))
}

// procGetfdMethod: Proc:getfd(n, {mode=}).
func (rt *Runtime) procGetfdMethod(L *lua.LState) int {
	p := rt.checkProc(L, "Proc:getfd")
	n := int(rt.Args(L, "Proc:getfd").Int(2, "n", rangeTargetFd))
	return rt.getfd(L, p.Pid, p.Pidfd, n, rt.getfdMode(L, "Proc:getfd", 3))
}

func (rt *Runtime) getfd(L *lua.LState, pid int, pidfd *fdio.FD, n int, mode proc.GetFdMode) int {
	f, err := proc.GetFd(pid, pidfd, n, mode)
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, f))
	return 1
}

func (rt *Runtime) procSelf(L *lua.LState) int {
	t := L.NewTable()
	t.RawSetString("pid", lua.LNumber(unix.Getpid()))
	t.RawSetString("ppid", lua.LNumber(unix.Getppid()))
	t.RawSetString("uid", lua.LNumber(unix.Getuid()))
	t.RawSetString("gid", lua.LNumber(unix.Getgid()))
	t.RawSetString("subreaper", lua.LBool(rt.opts.Reaper != nil))
	L.Push(t)
	return 1
}
