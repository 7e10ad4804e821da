package luabind

import (
	"context"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/proc"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Statements: the REPL (package luabind/repl) runs each entry as a task
// while the loop keeps serving other tasks. Its introspection (completion,
// :fds, :procs) lives in luabind/repl and reads the runtime through Fds,
// Children and Functions. Every method here except Post and
// Statement.Interrupt must be called on the goroutine that owns the Lua
// state.

// packSource turns a chunk's results into one table {n=count, ...}, so a
// statement that returns nothing is told apart from one that returns nil
// (L.Resume reports both as a single nil).
// The parameter's name shows in tracebacks as "in function 'chunk'".
const packSource = `return function(chunk)
	local function pack(...) return {n = select("#", ...), ...} end
	return pack(chunk())
end`

// Statement is one REPL entry running as a task.
type Statement struct {
	rt *Runtime
	t  *Task
	// stop cancels the context of the statement's thread: the VM then
	// raises at its next instruction, which is the only way to stop Lua
	// code that computes without ever waiting.
	stop context.CancelFunc

	mu         sync.Mutex
	interrupts int
	stopped    bool
}

// Load compiles src as a chunk named name ("=stdin" style).
func (rt *Runtime) Load(src, name string) (*lua.LFunction, error) {
	return rt.L.Load(strings.NewReader(src), name)
}

// StartStatement queues fn as a task whose thread carries a cancellable
// context; Wait runs it. Coroutines the statement creates inherit that
// context: they keep working after the statement ends (the context is
// only ever cancelled by a second Ctrl-C or by a busy statement), but die
// with it when it is stopped.
func (rt *Runtime) StartStatement(fn *lua.LFunction) *Statement {
	// Compiled per statement (microseconds) rather than cached, so the
	// shared Runtime struct needs no REPL field.
	p, err := rt.L.LoadString(packSource)
	if err == nil {
		err = rt.L.CallByParam(lua.P{Fn: p, NRet: 1, Protect: true})
	}
	if err != nil {
		panic("luabind: REPL packer: " + err.Error()) // constant source
	}
	packer := rt.L.Get(-1).(*lua.LFunction)
	rt.L.Pop(1)
	t := rt.sched.newTask(rt.L, packer, []lua.LValue{fn})
	t.awaited = true
	ctx, cancel := context.WithCancel(context.Background())
	t.th.SetContext(ctx)
	return &Statement{rt: rt, t: t, stop: cancel}
}

// Wait drives the scheduler (other tasks included) until the statement
// ends, and returns its exact results or its error. When every task waits
// and nothing can wake them, the statement is abandoned with EDEADLK.
func (s *Statement) Wait() *Result {
	rt := s.rt
	err := s.run()
	if rt.exit != nil {
		code := rt.exit.code
		return &Result{Exit: &code}
	}
	if err != nil {
		ev := rt.errorValue(rt.L, err)
		rt.cancelTask(s.t, ev) // it never ends otherwise; awaited, so silent
		return &Result{Err: ev}
	}
	t := s.t
	if t.failed {
		if ud, ok := t.errv.(*lua.LUserData); ok {
			if ex, ok := ud.Value.(*exitRequest); ok {
				code := ex.code
				return &Result{Exit: &code}
			}
		}
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if stopped && !rt.isErrorValue(t.errv) {
			// The VM's "context canceled" means our Ctrl-C.
			return &Result{Err: rt.interruptValue()}
		}
		return &Result{Err: t.errv}
	}
	var vals []lua.LValue
	if len(t.results) > 0 {
		if p, ok := t.results[0].(*lua.LTable); ok {
			n := int(lua.LVAsNumber(p.RawGetString("n")))
			for i := 1; i <= n; i++ {
				vals = append(vals, p.RawGetInt(i))
			}
		}
	}
	return &Result{Values: vals}
}

// run drives the scheduler until the statement ends; background tasks
// run meanwhile, and it returns as soon as the statement is done.
func (s *Statement) run() error { return s.rt.sched.runUntil(s.t) }

// Done reports whether the statement has ended.
func (s *Statement) Done() bool { return s.t.done }

// Interrupt is Ctrl-C, callable from any goroutine (the signal handler).
// The first one cancels the statement's current wait with EINTR through
// the loop, which the statement may catch with pcall. The statement's
// thread is stopped outright instead when the loop does not get to the
// cancel within grace (the Lua code computes and never waits), when the
// statement was not waiting and has not reached a wait grace later (it
// only yields, or computes after a task.yield), or on a second Ctrl-C.
func (s *Statement) Interrupt(grace time.Duration) {
	s.mu.Lock()
	s.interrupts++
	n := s.interrupts
	s.mu.Unlock()
	if n > 1 {
		s.hardStop()
		return
	}
	delivered := make(chan bool, 1) // true: the task was woken with the error
	s.rt.sched.loop.Post(func() {
		if s.t.done {
			delivered <- true
			return
		}
		woke := s.t.abort != nil
		s.rt.cancelTask(s.t, s.rt.interruptValue())
		delivered <- woke
	})
	go func() {
		select {
		case woke := <-delivered:
			if woke {
				return
			}
		case <-time.After(grace):
			s.hardStop()
			return
		}
		// Deferred to the statement's next wait: check that it came.
		time.Sleep(grace)
		pending := make(chan bool, 1)
		s.rt.sched.loop.Post(func() { pending <- !s.t.done && s.t.cancelled != nil })
		select {
		case p := <-pending:
			if p {
				s.hardStop()
			}
		case <-time.After(grace):
			s.hardStop()
		}
	}()
}

func (s *Statement) hardStop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.stop()
	// A parked statement notices the cancelled context only when resumed.
	s.rt.sched.loop.Post(func() {
		if !s.t.done {
			s.rt.cancelTask(s.t, s.rt.interruptValue())
		}
	})
}

// interruptValue is the error a Ctrl-C'd statement ends with.
func (rt *Runtime) interruptValue() *lua.LTable {
	return rt.errorValue(rt.L, &sys.Error{Op: "interrupt", Err: unix.EINTR, Hint: "Ctrl-C"})
}

// Turn runs every runnable task, then waits in the loop for the next
// event (a posted callback included) and dispatches it.
func (rt *Runtime) Turn() error { return rt.sched.turn(true) }

// SetExternal tells the scheduler that another goroutine (the line
// reader) may still post work, so an idle loop is not a deadlock.
func (rt *Runtime) SetExternal(on bool) { rt.external = on }

// Post runs fn on the Lua goroutine at its next turn; any goroutine.
func (rt *Runtime) Post(fn func()) { rt.sched.loop.Post(fn) }

// ExitRequested reports os.exit (or Interrupt) with its status.
func (rt *Runtime) ExitRequested() (int, bool) {
	if rt.exit == nil {
		return 0, false
	}
	return rt.exit.code, true
}

// Fds lists the descriptors this runtime owns and has not closed, by
// number.
func (rt *Runtime) Fds() []*fdio.FD {
	l := rt.fds.List()
	out := make([]*fdio.FD, len(l))
	for i, e := range l {
		out[i] = e.FD
	}
	return out
}

// Children lists the children this runtime started and has not reaped,
// by pid.
func (rt *Runtime) Children() []*proc.Proc { return rt.owner.Children() }

// Registry is the runtime's descriptor registry, for Go code that adopts
// handles into it in batches.
func (rt *Runtime) Registry() *fdio.Registry { return rt.fds }
