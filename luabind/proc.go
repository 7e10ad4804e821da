package luabind

import (
	"fmt"
	"sort"

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
	}, "wait")
	rt.procMeta.RawSetString("__tostring", L.NewFunction(rt.procToString))
	rt.register(L, "proc", map[string]lua.LGFunction{
		"spawn": rt.procSpawn,
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

// procSpawn: proc.spawn{"prog", "arg", ..., fds={[n]=handle}, env=, cwd=,
// setsid=, detach=}.
func (rt *Runtime) procSpawn(L *lua.LState) int {
	const fn = "proc.spawn"
	spec, ok := L.Get(1).(*lua.LTable)
	if !ok {
		return rt.argError(L, fn, 1, "spec", "expected a table {argv..., fds=, env=, cwd=}, got %s", typeName(L.Get(1)))
	}
	var a proc.Attr
	n := spec.Len()
	for i := 1; i <= n; i++ {
		s, ok := spec.RawGetInt(i).(lua.LString)
		if !ok {
			return rt.argError(L, fn, 1, "spec", "argv[%d] is a %s, not a string", i, typeName(spec.RawGetInt(i)))
		}
		a.Argv = append(a.Argv, string(s))
	}
	if len(a.Argv) == 0 {
		return rt.argError(L, fn, 1, "spec", "argv is empty: give the program as spec[1]")
	}
	if v := spec.RawGetString("fds"); v != lua.LNil {
		m, ok := v.(*lua.LTable)
		if !ok {
			return rt.argError(L, fn, 1, "spec", "fds is a %s, not a table {[n]=handle}", typeName(v))
		}
		a.Fds = map[int]*fdio.FD{}
		var bad string
		m.ForEach(func(k, v lua.LValue) {
			if bad != "" {
				return
			}
			kn, ok := k.(lua.LNumber)
			if !ok || float64(kn) != float64(int(kn)) || kn < 0 {
				bad = fmt.Sprintf("fds key %s is not a descriptor number", lua.LVAsString(k))
				return
			}
			ud, ok := v.(*lua.LUserData)
			var f *fdio.FD
			if ok {
				f, ok = ud.Value.(*fdio.FD)
			}
			if !ok {
				hint := ""
				if _, num := v.(lua.LNumber); num {
					hint = " (borrow raw numbers with fd.from(n))"
				}
				bad = fmt.Sprintf("fds[%d] is a %s, not an Fd handle%s", int(kn), typeName(v), hint)
				return
			}
			if f.Closed() {
				bad = fmt.Sprintf("fds[%d] is a closed handle (EBADF)", int(kn))
				return
			}
			a.Fds[int(kn)] = f
		})
		if bad != "" {
			return rt.argError(L, fn, 1, "spec", "%s", bad)
		}
	}
	if v := spec.RawGetString("env"); v != lua.LNil {
		env, err := envList(v)
		if err != nil {
			return rt.argError(L, fn, 1, "spec", "env: %v", err)
		}
		a.Env = env
	}
	if v, ok := spec.RawGetString("cwd").(lua.LString); ok {
		a.Dir = string(v)
	}
	a.Setsid = lua.LVAsBool(spec.RawGetString("setsid"))
	a.Detach = lua.LVAsBool(spec.RawGetString("detach"))
	p, err := proc.Spawn(a)
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newProc(L, p))
	return 1
}

// envList accepts {KEY="value"} or {"KEY=value", ...}.
func envList(v lua.LValue) ([]string, error) {
	t, ok := v.(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("expected a table, got %s", typeName(v))
	}
	env := []string{}
	var err error
	t.ForEach(func(k, val lua.LValue) {
		switch k := k.(type) {
		case lua.LNumber:
			env = append(env, lua.LVAsString(val))
		case lua.LString:
			env = append(env, string(k)+"="+lua.LVAsString(val))
		default:
			err = fmt.Errorf("key %s is not a string", lua.LVAsString(k))
		}
	})
	sort.Strings(env)
	return env, err
}

func (rt *Runtime) newProc(L *lua.LState, p *proc.Proc) *lua.LUserData {
	ud := L.NewUserData()
	ud.Value = p
	L.SetMetatable(ud, rt.procMeta)
	rt.procs[p] = ud
	return ud
}

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

func (rt *Runtime) procRunning(L *lua.LState) int {
	p := rt.checkProc(L, "Proc:running")
	if p.Status() == nil {
		if _, err := p.TryWait(); err != nil && !fdio.IsAgain(err) {
			return rt.raise(L, err)
		}
	}
	L.Push(lua.LBool(p.Status() == nil))
	return 1
}

func statusValues(L *lua.LState, p *proc.Proc, s *proc.Status) []lua.LValue {
	t := L.NewTable()
	t.RawSetString("pid", lua.LNumber(p.Pid))
	var first lua.LValue
	if s.Exited {
		t.RawSetString("code", lua.LNumber(s.Code))
		first = lua.LNumber(s.Code)
	} else {
		name := unix.SignalName(s.Signal)
		t.RawSetString("signal", lua.LString(name))
		t.RawSetString("signo", lua.LNumber(s.Signal))
		t.RawSetString("core", lua.LBool(s.Core))
		first = lua.LString(name)
	}
	return []lua.LValue{first, t}
}

func (rt *Runtime) procWait(L *lua.LState) int {
	p := rt.checkProc(L, "Proc:wait")
	opts := rt.optTable(L, "Proc:wait", 2, "opts")
	if s := p.Status(); s != nil {
		return rt.pushOK(L, statusValues(L, p, s))
	}
	return rt.park(L, "wait", p.Pidfd, unix.POLLIN, optTimeout(L, opts), func() ([]lua.LValue, error) {
		s, err := p.TryWait()
		if err != nil {
			return nil, err
		}
		return statusValues(L, p, s), nil
	})
}

func (rt *Runtime) procKill(L *lua.LState) int {
	p := rt.checkProc(L, "Proc:kill")
	sig := unix.SIGTERM
	switch v := L.Get(2).(type) {
	case lua.LNumber:
		sig = unix.Signal(v)
	case lua.LString:
		s, err := proc.SignalByName(string(v))
		if err != nil {
			return rt.raise(L, err)
		}
		sig = s
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

func (rt *Runtime) procSelf(L *lua.LState) int {
	t := L.NewTable()
	t.RawSetString("pid", lua.LNumber(unix.Getpid()))
	t.RawSetString("ppid", lua.LNumber(unix.Getppid()))
	t.RawSetString("uid", lua.LNumber(unix.Getuid()))
	t.RawSetString("gid", lua.LNumber(unix.Getgid()))
	L.Push(t)
	return 1
}
