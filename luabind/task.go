package luabind

import (
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

func (rt *Runtime) openTask(L *lua.LState) {
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
	rt.register(L, "task", map[string]lua.LGFunction{
		"spawn":   rt.taskSpawn,
		"sleep":   rt.taskSleep,
		"wait":    rt.taskWait,
		"current": rt.taskCurrent,
		"yield":   rt.taskYield,
		"_push_deadline": func(L *lua.LState) int {
			t := rt.sched.current
			if t == nil {
				return rt.raise(L, sys.Errorf("task.timeout", "", unix.EPERM, "only inside a task"))
			}
			secs := float64(L.CheckNumber(1))
			t.deadlines = append(t.deadlines, time.Now().Add(time.Duration(secs*float64(time.Second))))
			return 0
		},
		"_pop_deadline": func(L *lua.LState) int {
			if t := rt.sched.current; t != nil && len(t.deadlines) > 0 {
				t.deadlines = t.deadlines[:len(t.deadlines)-1]
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
	secs, ok := L.Get(1).(lua.LNumber)
	if !ok || secs < 0 {
		return rt.argError(L, "task.sleep", 1, "seconds", "expected a non-negative number, got %s", typeName(L.Get(1)))
	}
	d := time.Duration(float64(secs) * float64(time.Second))
	if rt.sched.current != nil && !canYield() {
		// Inside an iterator or metamethod the task cannot park: sleep in
		// place (other tasks wait meanwhile).
		time.Sleep(d)
		return rt.pushOK(L, nil)
	}
	deadline := time.Now().Add(d)
	return rt.parkOn(L, "sleep", 0, func(wake func([]lua.LValue)) func() {
		w := rt.sched.loop.Timer(deadline, func() { wake(nil) })
		return w.Cancel
	})
}

func (rt *Runtime) taskYield(L *lua.LState) int {
	return rt.parkOn(L, "yield", 0, func(wake func([]lua.LValue)) func() {
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

func (rt *Runtime) taskWaitOn(L *lua.LState, fn string, tasks []*Task, opts *lua.LTable) int {
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
	n := rt.parkOn(L, "wait", optTimeout(L, opts), func(wake func([]lua.LValue)) func() {
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
	return rt.taskWaitOn(L, "task.wait", tasks, opts)
}

func (rt *Runtime) taskWaitMethod(L *lua.LState) int {
	t := rt.checkTask(L, "Task:wait", 1)
	return rt.taskWaitOn(L, "Task:wait", []*Task{t}, rt.optTable(L, "Task:wait", 2, "opts"))
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
