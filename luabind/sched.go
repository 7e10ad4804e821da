package luabind

import (
	"fmt"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/loop"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Task is a Lua coroutine the scheduler runs. Blocking bindings park the
// running task (L.Yield with the park mark) after registering a wake-up in
// the loop; the wake-up queues the task with the values to resume it with,
// which glue.lua turns back into results or a raised error.
type Task struct {
	id      int
	th      *lua.LState
	fn      *lua.LFunction
	args    []lua.LValue
	started bool
	done    bool
	failed  bool
	results []lua.LValue
	errv    lua.LValue
	resume  []lua.LValue
	queued  bool
	// abort ends the task's current wait with an error (cancel, Ctrl-C).
	abort func(errv lua.LValue)
	// deadlines is the stack of task.timeout deadlines around the code
	// that runs now; every wait ends at the nearest one. deadlineLen holds
	// each one's length, for the error that says which one fired.
	deadlines   []time.Time
	deadlineLen []time.Duration
	cancelled   lua.LValue
	// cancelRequested marks a task someone cancelled: its ECANCELED end
	// is expected, not a failure to report.
	cancelRequested bool
	joiners         []func()
	awaited         bool
	ud              *lua.LUserData
}

type scheduler struct {
	rt      *Runtime
	loop    *loop.Loop
	runq    []*Task
	current *Task
	// until is the task runUntil is driving to completion.
	until  *Task
	nextID int
	tasks  map[*Task]struct{}
}

func (s *scheduler) newTask(L *lua.LState, fn *lua.LFunction, args []lua.LValue) *Task {
	th, _ := s.rt.L.NewThread() // cancel func is nil without a context
	s.nextID++
	t := &Task{id: s.nextID, th: th, fn: fn, args: args}
	s.tasks[t] = struct{}{}
	s.enqueue(t, nil)
	return t
}

func (s *scheduler) enqueue(t *Task, vals []lua.LValue) {
	if t.done || t.queued {
		return
	}
	t.resume = vals
	t.queued = true
	s.runq = append(s.runq, t)
}

// step resumes t once.
func (s *scheduler) step(t *Task) {
	t.queued = false
	if t.done {
		return
	}
	prev := s.current
	s.current = t
	var (
		st   lua.ResumeState
		err  error
		vals []lua.LValue
	)
	st, err, vals = s.resume(t)
	t.resume = nil
	s.current = prev
	switch st {
	case lua.ResumeYield:
		if len(vals) > 0 && vals[0] == s.rt.parkMark {
			return // parked: a wake-up is registered
		}
		s.enqueue(t, nil) // a plain coroutine.yield at task level: let others run
	case lua.ResumeOK:
		s.finish(t, vals, nil)
	case lua.ResumeError:
		var ev lua.LValue = lua.LString(err.Error())
		if ae, ok := err.(*lua.ApiError); ok {
			ev = ae.Object
		}
		if s, ok := ev.(lua.LString); ok && strings.HasPrefix(string(s), "runtime error: ") {
			// A Go panic inside gopher-lua, recovered by its own thread
			// runner: say where it came from.
			ev = lua.LString("internal error in the Lua VM (gopher-lua), task abandoned: " + string(s))
		}
		s.finish(t, nil, ev)
	}
}

// resume runs t until it parks, yields, returns or fails. A Go panic from
// inside the VM (a gopher-lua defect, or a binding bug) fails the task
// with an error instead of crashing fdwire.
func (s *scheduler) resume(t *Task) (st lua.ResumeState, err error, vals []lua.LValue) {
	defer func() {
		if r := recover(); r != nil {
			s.rt.L.G.CurrentThread = s.rt.L.G.MainThread
			st, err, vals = lua.ResumeError, &lua.ApiError{Type: lua.ApiErrorPanic,
				Object: lua.LString(fmt.Sprintf("internal error in the Lua VM (task %d abandoned): %v", t.id, r))}, nil
		}
	}()
	if !t.started {
		t.started = true
		args := append([]lua.LValue{t.fn}, t.args...)
		t.args = nil
		return s.rt.L.Resume(t.th, s.rt.taskEntry, args...)
	}
	return s.rt.L.Resume(t.th, nil, t.resume...)
}

func (s *scheduler) finish(t *Task, results []lua.LValue, errv lua.LValue) {
	t.done = true
	t.results = results
	if errv != nil {
		t.failed = true
		t.errv = errv
	}
	delete(s.tasks, t)
	j := t.joiners
	t.joiners = nil
	for _, f := range j {
		f()
	}
	if errv != nil && !t.awaited && !t.cancelRequested {
		s.rt.unawaitedFailure(t)
	}
}

// runUntil runs tasks and the loop until t is done.
func (s *scheduler) runUntil(t *Task) error {
	prev := s.until
	s.until = t
	defer func() { s.until = prev }()
	for !t.done && s.rt.exit == nil {
		if err := s.turn(true); err != nil {
			return err
		}
		if s.rt.exit != nil {
			break
		}
		if !t.done && len(s.runq) == 0 && s.loop.Pending() == 0 && !s.rt.external {
			return sys.Errorf("task", "", unix.EDEADLK, "every task is waiting for another task and nothing else can wake them")
		}
	}
	return nil
}

// turn runs every queued task, then waits in the loop (when block is set
// and nothing is queued) and dispatches what became ready.
func (s *scheduler) turn(block bool) error {
	for len(s.runq) > 0 {
		q := s.runq
		s.runq = nil
		for _, t := range q {
			s.step(t)
			if s.rt.exit != nil {
				return nil
			}
		}
	}
	if s.rt.exit != nil || (s.until != nil && s.until.done) {
		// The task being run to completion has ended: do not wait in the
		// loop for other tasks' events (they are abandoned or run later).
		return nil
	}
	wait := block && len(s.runq) == 0
	if wait && s.loop.Pending() == 0 && !s.rt.external {
		return nil
	}
	return s.loop.RunOnce(wait)
}

// deadline combines an operation's own timeout with the task's. byTask is
// the length of the task.timeout whose deadline is the nearer one (0 when
// the operation's own timeout, or nothing, ends the wait), so a timeout
// error says which one fired.
func (t *Task) deadline(timeout time.Duration) (d time.Time, byTask time.Duration) {
	if timeout > 0 {
		d = time.Now().Add(timeout)
	}
	for i, td := range t.deadlines {
		if td.IsZero() {
			continue // a task.timeout longer than the clock holds: forever
		}
		if d.IsZero() || td.Before(d) {
			d, byTask = td, t.deadlineLen[i]
		}
	}
	return d, byTask
}

// park suspends the running task until fd has events, then calls try;
// try returns the results, an error, or EAGAIN to wait again. When no task
// runs (a binding called from plain Go), it blocks in poll instead.
func (rt *Runtime) park(L *lua.LState, op string, fd *fdio.FD, events int16, timeout time.Duration, try func() ([]lua.LValue, error)) int {
	return rt.parkWhere(L, op, func() (*fdio.FD, int16) { return fd, events }, timeout, try)
}

// parkWhere is park for calls whose wait depends on why they would block
// (a splice waits for its input or for its output): where, asked after
// each EAGAIN, names the descriptor and events to wait for.
func (rt *Runtime) parkWhere(L *lua.LState, op string, where func() (*fdio.FD, int16), timeout time.Duration, try func() ([]lua.LValue, error)) int {
	return rt.parkCall(L, op, where, timeout, try, nil)
}

// parkCall is parkWhere with progress: when set, it adds what the call
// already did (Fd:write's bytes written) to whatever error ends it,
// including a timeout or a cancel, so a partial result is never lost.
func (rt *Runtime) parkCall(L *lua.LState, op string, where func() (*fdio.FD, int16), timeout time.Duration, try func() ([]lua.LValue, error), progress func(errv *lua.LTable)) int {
	// Most calls finish at once (data queued, room to write), and telling
	// whether this call could yield walks the Go stack: try first. (No
	// closure is made on this path: it is every relay's hot path.)
	tried := false
	if canTryFirst(rt, L) {
		if n, done := rt.tryFirst(L, try, progress); done {
			return n
		}
		tried = true
	}
	return rt.parkRest(L, op, where, timeout, try, progress, tried)
}

// canTryFirst is parkCall's condition for trying before it parks: a
// binding that makes its own first try (with no closure, on its hot path)
// under this same condition, and got EAGAIN, goes on with parkAfterTry.
func canTryFirst(rt *Runtime, L *lua.LState) bool {
	t := rt.sched.current
	return t != nil && L != rt.L && t.cancelled == nil
}

// parkAfterTry is parkCall for a binding that has just tried once itself,
// when canTryFirst held, and got EAGAIN: the same wait, without a second
// try (one system call) before it.
func (rt *Runtime) parkAfterTry(L *lua.LState, op string, where func() (*fdio.FD, int16), timeout time.Duration, try func() ([]lua.LValue, error), progress func(errv *lua.LTable)) int {
	return rt.parkRest(L, op, where, timeout, try, progress, true)
}

// parkRest is parkCall after its first try (tried) or without one.
func (rt *Runtime) parkRest(L *lua.LState, op string, where func() (*fdio.FD, int16), timeout time.Duration, try func() ([]lua.LValue, error), progress func(errv *lua.LTable), tried bool) int {
	t := rt.sched.current
	fail := func(ev lua.LValue) lua.LValue { return rt.withProgress(L, ev, progress) }
	raiseV := func(ev lua.LValue) int { L.Error(fail(ev), 0); return 0 }
	yk := yieldNo
	if t != nil && L != rt.L {
		yk = canYield()
	}
	if yk == yieldNo {
		var res []lua.LValue
		err := fdio.BlockWhere(where, timeout, op, func() error {
			var err error
			res, err = try()
			return err
		})
		if err != nil {
			ev := rt.errorValue(L, err)
			rt.attachTraceback(L, ev)
			return raiseV(ev)
		}
		return rt.pushOK(L, res)
	}
	raisePendingCancel(L, t)
	if !tried {
		if n, done := rt.tryFirst(L, try, progress); done {
			return n
		}
	}
	if timeout == NoWait {
		fd, _ := where()
		return raiseV(rt.timeoutValue(L, op, fd, NoWait, 0))
	}
	deadline, byTask := t.deadline(timeout)
	var w *loop.Watch
	var arm func()
	arm = func() {
		fd, events := where()
		if _, err := fd.Num(); err != nil {
			rt.wake(t, nil, fail(rt.errorValue(L, err)))
			return
		}
		// On the handle, not its number: closing the handle while this
		// task waits wakes it with EBADF at once (loop.WatchHandle).
		w = rt.sched.loop.WatchHandle(fd, events, deadline, func(rev int16, timedOut bool) {
			if timedOut {
				rt.wake(t, nil, fail(rt.timeoutValue(L, op, fd, timeout, byTask)))
				return
			}
			res, err := try()
			if fdio.IsAgain(err) {
				arm()
				return
			}
			if err != nil {
				rt.wake(t, nil, fail(rt.errorValue(L, err)))
				return
			}
			rt.wake(t, res, nil)
		})
	}
	arm()
	t.abort = func(ev lua.LValue) { w.Cancel(); rt.wake(t, nil, fail(ev)) }
	return rt.yieldPark(L, yk)
}

// tryFirst runs try once: done reports that it finished (results pushed)
// or failed (raised, with progress); not done means it would block.
func (rt *Runtime) tryFirst(L *lua.LState, try func() ([]lua.LValue, error), progress func(*lua.LTable)) (int, bool) {
	res, err := try()
	if err == nil {
		return rt.pushOK(L, res), true
	}
	if fdio.IsAgain(err) {
		return 0, false
	}
	ev := rt.errorValue(L, err)
	rt.attachTraceback(L, ev)
	L.Error(rt.withProgress(L, ev, progress), 0)
	return 0, true
}

// withProgress is ev with what the call already did added (a copy, since
// a cancel's error value is shared).
func (rt *Runtime) withProgress(L *lua.LState, ev lua.LValue, progress func(*lua.LTable)) lua.LValue {
	et, ok := ev.(*lua.LTable)
	if progress == nil || !ok {
		return ev
	}
	c := L.NewTable()
	et.ForEach(func(k, v lua.LValue) { c.RawSet(k, v) })
	c.Metatable = et.Metatable
	progress(c)
	return c
}

// parkUntil suspends the running task until deadline (sleep) or until
// wakeup is called by someone else (task.wait); register gets a function
// to call to wake the task with results.
func (rt *Runtime) parkOn(L *lua.LState, op string, timeout time.Duration, register func(wake func(res []lua.LValue)) (cancel func())) int {
	return rt.parkOnOrFail(L, op, timeout, func(wake func([]lua.LValue), _ func(lua.LValue)) func() { return register(wake) })
}

// parkOnOrFail is parkOn whose waker can also end the wait with an error
// (fail), as a closed Event does; whichever of wake, fail, the timeout or
// a cancel comes first wins and the others do nothing.
func (rt *Runtime) parkOnOrFail(L *lua.LState, op string, timeout time.Duration, register func(wake func(res []lua.LValue), fail func(errv lua.LValue)) (cancel func())) int {
	t := rt.sched.current
	if t == nil || L == rt.L {
		return rt.raise(L, sys.Errorf(op, "", unix.EPERM, "this call waits, and can only run inside a task"))
	}
	yk := canYield()
	if yk == yieldNo {
		return rt.raise(L, sys.Errorf(op, "", unix.EPERM, "this call waits, and cannot run inside a for-in iterator, a metamethod or a callback that Lua calls from Go (sort, gsub); move the wait out of it"))
	}
	raisePendingCancel(L, t)
	deadline, byTask := t.deadline(timeout)
	if timeout == NoWait {
		deadline = time.Now() // the wake-up below wins if it is already due
	}
	var timer *loop.Watch
	fired := false
	end := func(res []lua.LValue, errv lua.LValue) {
		if fired {
			return
		}
		fired = true
		if timer != nil {
			timer.Cancel()
		}
		rt.wake(t, res, errv)
	}
	cancel := register(func(res []lua.LValue) { end(res, nil) }, func(errv lua.LValue) { end(nil, errv) })
	if !deadline.IsZero() && !fired {
		timer = rt.sched.loop.Timer(deadline, func() {
			if fired {
				return
			}
			fired = true
			if cancel != nil {
				cancel()
			}
			rt.wake(t, nil, rt.timeoutValue(L, op, nil, timeout, byTask))
		})
	}
	t.abort = func(ev lua.LValue) {
		if fired {
			return
		}
		fired = true
		if timer != nil {
			timer.Cancel()
		}
		if cancel != nil {
			cancel()
		}
		rt.wake(t, nil, ev)
	}
	return rt.yieldPark(L, yk)
}

// timeoutValue is the error of a wait that ran out of time: its own
// timeout ("read <fd 7 pipe>: ETIMEDOUT: no data within 1s"), or, when
// byTask is set, the enclosing task.timeout's.
func (rt *Runtime) timeoutValue(L *lua.LState, op string, fd *fdio.FD, timeout time.Duration, byTask time.Duration) lua.LValue {
	addr := fdio.Describe(fd)
	if byTask > 0 {
		return rt.errorValue(L, &sys.Error{Op: op, Addr: addr, Err: unix.ETIMEDOUT, Plain: true,
			Hint: "the enclosing task.timeout of " + byTask.String() + " expired while waiting here"})
	}
	return rt.errorValue(L, fdio.TimeoutAt(op, addr, timeout))
}

// wake queues t to resume with (true, res...) or (false, errv).
func (rt *Runtime) wake(t *Task, res []lua.LValue, errv lua.LValue) {
	t.abort = nil
	if errv != nil {
		rt.sched.enqueue(t, []lua.LValue{lua.LFalse, errv})
		return
	}
	rt.sched.enqueue(t, append([]lua.LValue{lua.LTrue}, res...))
}

// pushOK returns (true, res...) from a binding that finished at once; the
// Lua wrapper in glue.lua strips the true.
func (rt *Runtime) pushOK(L *lua.LState, res []lua.LValue) int {
	L.Push(lua.LTrue)
	for _, v := range res {
		L.Push(v)
	}
	return len(res) + 1
}

// cancelTask ends t's current wait (or its next one) with errv.
func (rt *Runtime) cancelTask(t *Task, errv lua.LValue) {
	if t.done {
		return
	}
	if t.abort != nil {
		a := t.abort
		t.abort = nil
		a(errv)
		return
	}
	t.cancelled = errv
}

// optTimeout reads opts.timeout (seconds) from a table whose keys the
// caller has checked; a bad value is an argument error of the function
// that is running (see check.go for what each value means).
func optTimeout(L *lua.LState, opts *lua.LTable) time.Duration {
	if opts == nil {
		return WaitForever
	}
	d, why := TimeoutValue(opts.RawGetString("timeout"))
	if why != "" {
		L.ArgError(1, "opts.timeout: "+why)
	}
	return d
}

// parkAny is park over several descriptors: the task wakes when any of
// them is readable and try no longer says EAGAIN.
func (rt *Runtime) parkAny(L *lua.LState, op string, fds func() []*fdio.FD, timeout time.Duration, try func() ([]lua.LValue, error)) int {
	t := rt.sched.current
	yk := yieldNo
	if t != nil && L != rt.L {
		yk = canYield()
	}
	if yk == yieldNo {
		return rt.raise(L, sys.Errorf(op, "", unix.EPERM, "this call waits on several descriptors, and can only run in a task, outside for-in iterators and metamethods"))
	}
	raisePendingCancel(L, t)
	if n, done := rt.tryNow(L, try); done {
		return n
	}
	if timeout == NoWait {
		L.Error(rt.timeoutValue(L, op, nil, NoWait, 0), 0)
		return 0
	}
	deadline, byTask := t.deadline(timeout)
	var watches []*loop.Watch
	var timer *loop.Watch
	done := false
	cancelWatches := func() {
		for _, w := range watches {
			w.Cancel()
		}
		watches = nil
	}
	finish := func(res []lua.LValue, errv lua.LValue) {
		if done {
			return
		}
		done = true
		cancelWatches()
		if timer != nil {
			timer.Cancel()
		}
		rt.wake(t, res, errv)
	}
	var arm func()
	arm = func() {
		armed := 0
		defer func() {
			if armed == 0 && !done {
				finish(nil, rt.errorValue(L, sys.Errorf(op, "", unix.EBADF, "every descriptor waited on was closed")))
			}
		}()
		for _, f := range fds() {
			if f.Closed() {
				continue
			}
			armed++
			watches = append(watches, rt.sched.loop.WatchHandle(f, unix.POLLIN, time.Time{}, func(int16, bool) {
				if done {
					return
				}
				cancelWatches()
				res, err := try()
				switch {
				case fdio.IsAgain(err):
					arm()
				case err != nil:
					finish(nil, rt.errorValue(L, err))
				default:
					finish(res, nil)
				}
			}))
		}
	}
	arm()
	if !deadline.IsZero() {
		timer = rt.sched.loop.Timer(deadline, func() { finish(nil, rt.timeoutValue(L, op, nil, timeout, byTask)) })
	}
	t.abort = func(ev lua.LValue) { finish(nil, ev) }
	return rt.yieldPark(L, yk)
}

// raisePendingCancel raises a cancellation (Task:cancel, Ctrl-C) that came
// while t was not waiting, at its next wait.
func raisePendingCancel(L *lua.LState, t *Task) {
	if ev := t.cancelled; ev != nil {
		t.cancelled = nil
		L.Error(ev, 0)
	}
}

// tryNow runs try once: done reports that it finished (results pushed)
// or failed (raised); not done means it would block.
func (rt *Runtime) tryNow(L *lua.LState, try func() ([]lua.LValue, error)) (n int, done bool) {
	res, err := try()
	if err == nil {
		return rt.pushOK(L, res), true
	}
	if !fdio.IsAgain(err) {
		return rt.raise(L, err), true
	}
	return 0, false
}
