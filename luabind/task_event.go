package luabind

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// Event is a task-level wake-up: a flag that tasks wait on, set or
// pulsed by other tasks of the same runtime. It replaces the socketpair
// "bell" scripts used to wake one task from another: no descriptor, no
// system call, no poll turn between the set and the waiter running.
//
// set() is level-triggered (the flag stays up until clear(), and every
// wait returns at once meanwhile); notify(n) is a pulse (wakes up to n of
// the tasks waiting now and leaves the flag down), for the
// condition-variable pattern `while not cond do ev:wait() end`, which is
// safe here because nothing runs between a task's check and its wait.
type Event struct {
	set     bool
	closed  bool
	waiters []*eventWaiter // in arrival order
	ud      *lua.LUserData
}

type eventWaiter struct {
	wake func([]lua.LValue)
	fail func(lua.LValue)
}

func (rt *Runtime) openEvent(L *lua.LState) {
	rt.eventMeta, _ = rt.methods(L, "Event", map[string]lua.LGFunction{
		"wait":    rt.eventWait,
		"set":     rt.eventSet,
		"notify":  rt.eventNotify,
		"clear":   rt.eventClear,
		"is_set":  rt.eventIsSet,
		"waiting": rt.eventWaiting,
		"close":   rt.eventClose,
	}, "wait")
	rt.eventMeta.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		e := rt.checkEvent(L, "Event:__tostring", 1)
		var s string
		switch {
		case e.closed:
			s = "<event closed>"
		case e.set:
			s = "<event set>"
		case len(e.waiters) > 0:
			s = fmt.Sprintf("<event clear, %d waiting>", len(e.waiters))
		default:
			s = "<event clear>"
		}
		L.Push(lua.LString(s))
		return 1
	}))
}

// taskEvent is task.event(opts): opts.set (boolean) is the initial state.
func (rt *Runtime) taskEvent(L *lua.LState) int {
	o := rt.Args(L, "task.event").Opts(1, "opts", "set")
	e := &Event{set: o.Bool("set", false)}
	e.ud = L.NewUserData()
	e.ud.Value = e
	L.SetMetatable(e.ud, rt.eventMeta)
	L.Push(e.ud)
	return 1
}

func (rt *Runtime) checkEvent(L *lua.LState, fn string, n int) *Event {
	if ud, ok := L.Get(n).(*lua.LUserData); ok {
		if e, ok := ud.Value.(*Event); ok {
			return e
		}
	}
	rt.argError(L, fn, n, "event", "expected an Event, got %s", typeName(L.Get(n)))
	return nil
}

// checkOpenEvent is checkEvent that refuses a closed event with EBADF.
func (rt *Runtime) checkOpenEvent(L *lua.LState, fn string, n int) *Event {
	e := rt.checkEvent(L, fn, n)
	if e.closed {
		rt.raise(L, sys.Errorf(fn, "", unix.EBADF, "the event was closed"))
	}
	return e
}

func (rt *Runtime) eventWait(L *lua.LState) int {
	const fn = "Event:wait"
	e := rt.checkOpenEvent(L, fn, 1)
	timeout := rt.Args(L, fn).Opts(2, "opts", "timeout").Timeout()
	if e.set {
		return rt.pushOK(L, eventTrue)
	}
	if timeout == NoWait {
		if t := rt.sched.current; t != nil {
			raisePendingCancel(L, t)
		}
		return rt.raise(L, &sys.Error{Op: fn, Err: unix.ETIMEDOUT, Plain: true,
			Hint: "not set, and timeout = 0 does not wait"})
	}
	return rt.parkOnOrFail(L, fn, timeout, func(wake func([]lua.LValue), fail func(lua.LValue)) func() {
		w := &eventWaiter{wake: wake, fail: fail}
		e.waiters = append(e.waiters, w)
		// A timeout or a cancel takes the waiter off the list, so an event
		// nobody sets keeps nothing of the tasks that gave up on it.
		return func() { e.remove(w) }
	})
}

// eventTrue is what a wait that ended by set or notify returns.
var eventTrue = []lua.LValue{lua.LTrue}

func (e *Event) remove(w *eventWaiter) {
	for i, x := range e.waiters {
		if x == w {
			copy(e.waiters[i:], e.waiters[i+1:])
			e.waiters[len(e.waiters)-1] = nil
			e.waiters = e.waiters[:len(e.waiters)-1]
			return
		}
	}
}

// wakeUpTo wakes the first n waiters (all when n < 0) and
// returns how many it woke.
func (e *Event) wakeUpTo(n int) int {
	if n < 0 || n > len(e.waiters) {
		n = len(e.waiters)
	}
	woken := e.waiters[:n:n]
	e.waiters = append([]*eventWaiter(nil), e.waiters[n:]...)
	for _, w := range woken {
		w.wake(eventTrue)
	}
	return n
}

func (rt *Runtime) eventSet(L *lua.LState) int {
	e := rt.checkOpenEvent(L, "Event:set", 1)
	e.set = true
	L.Push(lua.LNumber(e.wakeUpTo(-1)))
	return 1
}

func (rt *Runtime) eventNotify(L *lua.LState) int {
	const fn = "Event:notify"
	e := rt.checkOpenEvent(L, fn, 1)
	n := -1
	if L.Get(2) != lua.LNil {
		n = int(rt.Args(L, fn).Int(2, "n", Range{1, 1 << 31, "a number of tasks", ""}))
	}
	L.Push(lua.LNumber(e.wakeUpTo(n)))
	return 1
}

func (rt *Runtime) eventClear(L *lua.LState) int {
	rt.checkOpenEvent(L, "Event:clear", 1).set = false
	return 0
}

func (rt *Runtime) eventIsSet(L *lua.LState) int {
	L.Push(lua.LBool(rt.checkOpenEvent(L, "Event:is_set", 1).set))
	return 1
}

func (rt *Runtime) eventWaiting(L *lua.LState) int {
	L.Push(lua.LNumber(len(rt.checkEvent(L, "Event:waiting", 1).waiters)))
	return 1
}

// eventClose ends every wait on the event with EBADF and refuses later
// use; closing twice does nothing.
func (rt *Runtime) eventClose(L *lua.LState) int {
	e := rt.checkEvent(L, "Event:close", 1)
	if e.closed {
		return 0
	}
	e.closed = true
	e.set = false
	waiters := e.waiters
	e.waiters = nil
	if len(waiters) > 0 {
		ev := rt.errorValue(L, sys.Errorf("Event:wait", "", unix.EBADF, "the event was closed while this task waited on it"))
		for _, w := range waiters {
			w.fail(ev)
		}
	}
	return 0
}
