package luabind

import (
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

func (rt *Runtime) openTask(L *lua.LState) {
	rt.openErrors(L) // errors.go: the stdlib's structured errors
	rt.openCheck(L)  // check.go: the checker's rules for the CLI tools
	rt.taskMeta, _ = rt.methods(L, "Task", map[string]lua.LGFunction{
		"wait":   rt.taskWaitMethod,
		"cancel": rt.taskCancel,
		"done":   rt.taskDone,
	}, "wait")
	rt.taskMeta.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		t := rt.checkTask(L, "Task:__tostring", 1)
		state := "running"
		switch {
		case t.done && t.failed:
			state = "failed"
		case t.done:
			state = "done"
		}
		L.Push(lua.LString(fmt.Sprintf("<task %d %s>", t.id, state)))
		return 1
	}))
	rt.openEvent(L)
	rt.register(L, "task", map[string]lua.LGFunction{
		"spawn":   rt.taskSpawn,
		"sleep":   rt.taskSleep,
		"wait":    rt.taskWait,
		"current": rt.taskCurrent,
		"yield":   rt.taskYield,
		"event":   rt.taskEvent, // task_event.go
		// task.timeout(seconds, fn, ...) is glue.lua around these two.
		"_push_deadline": func(L *lua.LState) int {
			a := rt.Args(L, "task.timeout")
			d, forever := a.Duration(1, "seconds")
			if _, ok := L.Get(2).(*lua.LFunction); !ok {
				a.Error(2, "fn", "expected a function, got %s", typeName(L.Get(2)))
			}
			t := rt.sched.current
			if t == nil {
				return rt.raise(L, sys.Errorf("task.timeout", "", unix.EPERM, "only inside a task"))
			}
			var at time.Time // zero: longer than the clock holds, so no deadline
			if !forever {
				at = time.Now().Add(d)
			}
			t.deadlines = append(t.deadlines, at)
			t.deadlineLen = append(t.deadlineLen, d)
			return 0
		},
		// _arm runs first in every task (glue.lua): from then on an error
		// raised by the VM itself (indexing nil, calling a number) records
		// the traceback of where it happened, which gopher-lua drops in
		// coroutines, so the report of an uncaught error shows it.
		"_arm": func(L *lua.LState) int {
			L.Panic = rt.tracePanic
			return 0
		},
		"_pop_deadline": func(L *lua.LState) int {
			if t := rt.sched.current; t != nil && len(t.deadlines) > 0 {
				t.deadlines = t.deadlines[:len(t.deadlines)-1]
				t.deadlineLen = t.deadlineLen[:len(t.deadlineLen)-1]
			}
			return 0
		},
	}, "sleep", "wait", "yield")
}

func (rt *Runtime) checkTask(L *lua.LState, fn string, n int) *Task {
	if ud, ok := L.Get(n).(*lua.LUserData); ok {
		if t, ok := ud.Value.(*Task); ok {
			return t
		}
	}
	rt.argError(L, fn, n, "task", "expected a Task, got %s", typeName(L.Get(n)))
	return nil
}

func (rt *Runtime) taskUserdata(L *lua.LState, t *Task) *lua.LUserData {
	if t.ud == nil {
		t.ud = L.NewUserData()
		t.ud.Value = t
		L.SetMetatable(t.ud, rt.taskMeta)
	}
	return t.ud
}

func (rt *Runtime) taskSpawn(L *lua.LState) int {
	f, ok := L.Get(1).(*lua.LFunction)
	if !ok {
		return rt.argError(L, "task.spawn", 1, "fn", "expected a function, got %s", typeName(L.Get(1)))
	}
	args := make([]lua.LValue, 0, L.GetTop()-1)
	for i := 2; i <= L.GetTop(); i++ {
		args = append(args, L.Get(i))
	}
	t := rt.sched.newTask(L, f, args)
	L.Push(rt.taskUserdata(L, t))
	return 1
}

func (rt *Runtime) taskCurrent(L *lua.LState) int {
	if t := rt.sched.current; t != nil {
		L.Push(rt.taskUserdata(L, t))
		return 1
	}
	L.Push(lua.LNil)
	return 1
}

func (rt *Runtime) taskSleep(L *lua.LState) int {
	// A sleep longer than the clock holds is a sleep until the far end of
	// it (about 292 years): it never returns early.
	d, _ := rt.Args(L, "task.sleep").Duration(1, "seconds")
	if rt.sched.current != nil && canYield() == yieldNo {
		// Inside an iterator or metamethod the task cannot park: sleep in
		// place (other tasks wait meanwhile).
		time.Sleep(d)
		return rt.pushOK(L, nil)
	}
	deadline := time.Now().Add(d)
	return rt.parkOn(L, "sleep", WaitForever, func(wake func([]lua.LValue)) func() {
		w := rt.sched.loop.Timer(deadline, func() { wake(nil) })
		return w.Cancel
	})
}

func (rt *Runtime) taskYield(L *lua.LState) int {
	return rt.parkOn(L, "yield", WaitForever, func(wake func([]lua.LValue)) func() {
		rt.sched.loop.Post(func() { wake(nil) })
		return nil
	})
}

// taskResults returns a finished task's results, or raises its error.
func (rt *Runtime) joinValues(t *Task) ([]lua.LValue, lua.LValue) {
	if t.failed {
		return nil, t.errv
	}
	return t.results, nil
}

func (rt *Runtime) taskWaitOn(L *lua.LState, fn string, tasks []*Task, opts Opts) int {
	for _, t := range tasks {
		t.awaited = true
		if t == rt.sched.current {
			return rt.raise(L, sys.Errorf(fn, "", unix.EDEADLK, "a task cannot wait for itself"))
		}
	}
	collect := func() ([]lua.LValue, lua.LValue) {
		if len(tasks) == 1 {
			return rt.joinValues(tasks[0])
		}
		var out []lua.LValue
		for _, t := range tasks {
			r, ev := rt.joinValues(t)
			if ev != nil {
				return nil, ev
			}
			if len(r) == 0 {
				out = append(out, lua.LNil)
			} else {
				out = append(out, r[0])
			}
		}
		return out, nil
	}
	allDone := func() bool {
		for _, t := range tasks {
			if !t.done {
				return false
			}
		}
		return true
	}
	if allDone() {
		r, ev := collect()
		if ev != nil {
			L.Error(ev, 0)
			return 0
		}
		return rt.pushOK(L, r)
	}
	cur := rt.sched.current
	var failure lua.LValue
	n := rt.parkOn(L, "wait", opts.Timeout(), func(wake func([]lua.LValue)) func() {
		cancelled := false
		for _, t := range tasks {
			if t.done {
				continue
			}
			t.joiners = append(t.joiners, func() {
				if cancelled || !allDone() {
					return
				}
				r, ev := collect()
				if ev != nil {
					failure = ev
					if cur != nil && cur.abort != nil {
						a := cur.abort
						cur.abort = nil
						a(ev)
					}
					return
				}
				wake(r)
			})
		}
		return func() { cancelled = true }
	})
	_ = failure
	return n
}

func (rt *Runtime) taskWait(L *lua.LState) int {
	var tasks []*Task
	var opts *lua.LTable
	for i := 1; i <= L.GetTop(); i++ {
		if t, ok := L.Get(i).(*lua.LTable); ok && i == L.GetTop() {
			opts = t
			continue
		}
		tasks = append(tasks, rt.checkTask(L, "task.wait", i))
	}
	if len(tasks) == 0 {
		return rt.argError(L, "task.wait", 1, "task", "expected at least one Task")
	}
	return rt.taskWaitOn(L, "task.wait", tasks, rt.Args(L, "task.wait").OptsOf(opts, L.GetTop(), "opts", "timeout"))
}

func (rt *Runtime) taskWaitMethod(L *lua.LState) int {
	t := rt.checkTask(L, "Task:wait", 1)
	return rt.taskWaitOn(L, "Task:wait", []*Task{t}, rt.Args(L, "Task:wait").Opts(2, "opts", "timeout"))
}

func (rt *Runtime) taskCancel(L *lua.LState) int {
	t := rt.checkTask(L, "Task:cancel", 1)
	if t == rt.sched.current {
		return rt.raise(L, sys.Errorf("Task:cancel", "", unix.EDEADLK, "a task cannot cancel itself; raise an error instead"))
	}
	t.cancelRequested = true
	ev := rt.errorValue(L, &sys.Error{Op: "task", Err: unix.ECANCELED, Hint: "cancelled"})
	if !t.started {
		// Never ran: finish it now with the cancellation error.
		t.awaited = true
		rt.sched.finish(t, nil, ev)
		return 0
	}
	rt.cancelTask(t, ev)
	return 0
}

func (rt *Runtime) taskDone(L *lua.LState) int {
	t := rt.checkTask(L, "Task:done", 1)
	L.Push(lua.LBool(t.done))
	return 1
}

// tracePanic is a task thread's Panic function (see _arm): it keeps the
// traceback of an error nobody recorded one for, then raises it as
// gopher-lua's own coroutine panic does.
func (rt *Runtime) tracePanic(L *lua.LState) {
	v := L.Get(-1)
	if rt.lastErr != nil && rt.lastErr.RawGetString("value") != v {
		if t, ok := v.(*lua.LTable); !ok || t.RawGetString("traceback") == lua.LNil {
			rt.lastErr.RawSetString("value", v)
			rt.lastErr.RawSetString("traceback", lua.LString(goTraceback(L)))
		}
	}
	panic(&lua.ApiError{Type: lua.ApiErrorRun, Object: v})
}

// goTraceback is debug.traceback of L at the raising frame. It is a Go
// function, so calling it here runs no Lua while the VM is raising.
func goTraceback(L *lua.LState) string {
	tb, ok := L.GetGlobal("debug").(*lua.LTable)
	if !ok {
		return ""
	}
	fn, ok := tb.RawGetString("traceback").(*lua.LFunction)
	if !ok || !fn.IsG {
		return ""
	}
	top := L.GetTop()
	defer L.SetTop(top)
	if err := L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}, lua.LString(""), lua.LNumber(1)); err != nil {
		return ""
	}
	return lua.LVAsString(L.Get(-1))
}
