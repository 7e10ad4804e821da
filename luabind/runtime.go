// Package luabind is the Lua face of runtime/: the modules fd, sock, proc
// and task, the Fd and Proc userdata, structured errors, and the
// cooperative scheduler that runs every chunk as a task.
package luabind

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/loop"
	"github.com/fdwire/fdwire/runtime/proc"
	"github.com/fdwire/fdwire/runtime/reap"
)

//go:embed glue.lua
var glueSource string

// Options configure a Runtime.
type Options struct {
	Stdout, Stderr io.Writer
	// Args become the global arg table (arg[0] is the script name).
	Script string
	Args   []string
	// Grace is how long children get between SIGTERM and SIGKILL when the
	// runtime closes.
	Grace time.Duration
	// Modules are opened after the core ones (fd, sock, proc, task and
	// the embedded stdlib), in order. luabind/modules.Default() is the
	// set the fdwire command uses.
	Modules []Module
	// Reaper, when set, is this process's child subreaper (see
	// runtime/reap): the fdwire command makes one per process and gives
	// it to its runtime; nil leaves orphans to init.
	Reaper *reap.Reaper
	// PinSpawns says the runtime runs on the program's main goroutine,
	// which its first spawn may lock to its thread for good, so that
	// children are forked there without a thread hand-off
	// (proc.OwnerOptions.PinCaller). The fdwire command sets it.
	PinSpawns bool
	// Warden, when set, is told about the run directories, socket files
	// (fs.unlink_on_close) and cgroups the runtime's modules make, and
	// removes them if this process is killed before it can (see
	// runtime/reap/warden.go); children then also go into a cgroup of the
	// runtime's that it ends (runtime/proc/cgroup.go).
	Warden *reap.Warden
}

// Runtime is one Lua state with its scheduler, its handles and children.
type Runtime struct {
	L         *lua.LState
	opts      Options
	sched     *scheduler
	errMeta   *lua.LTable
	fdMeta    *lua.LTable
	batchMeta *lua.LTable // FdBatch (fdbatch.go)
	procMeta  *lua.LTable
	taskMeta  *lua.LTable
	eventMeta *lua.LTable // task_event.go
	parkMark  *lua.LUserData
	taskEntry *lua.LFunction
	traceback *lua.LFunction
	lastErr   *lua.LTable
	blocking  []blockingFn
	lazy      []lazyFn
	// pcall of a blocking binding (protected.go): active protectedGo
	// calls, the one whose binding parked, and its error handler.
	pcallDepth, pcallParked int
	keepError, protectedFn  *lua.LFunction
	// fds are the descriptors this runtime owns (each with its Fd
	// userdata) and owner its children: the one source of truth for
	// fd.list(), the REPL's :fds and :procs, and Close.
	fds    *fdio.Registry
	owner  *proc.Owner
	stored map[*proc.Proc]*storedFds // proc_notify.go
	// surfaces and luaSurfaces are what modules registered; Functions
	// derives its list from them (and caches it in functions).
	surfaces    []surface
	luaSurfaces []luaSurface
	functions   []string
	exit        *exitRequest
	// external is set while something outside the loop (the REPL's reader)
	// may still post work, so an idle loop is not a deadlock.
	external bool
	failures int
	closed   bool
	// watched counts, per signal, the Lua watches (signal.watch) that
	// take it; the CLI's fallback handler leaves those signals to them.
	watchMu sync.Mutex
	watched map[os.Signal]int
}

// lazyFn is a LazyLua function for the glue to install.
type lazyFn struct {
	tbl  *lua.LTable
	name string
	load lua.LGFunction
}

type blockingFn struct {
	tbl  *lua.LTable
	name string
}

type exitRequest struct{ code int }

// threadRegistrySize is the initial value stack of every coroutine.
const threadRegistrySize = 32

// New makes a runtime with the fdwire modules preloaded.
func New(o Options) (*Runtime, error) {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Grace == 0 {
		o.Grace = 2 * time.Second
	}
	// With a warden (the fdwire command), children also go into a cgroup
	// of the runtime's that the warden ends after a SIGKILL of fdwire
	// (runtime/proc/cgroup.go).
	owner, err := proc.NewOwner(proc.OwnerOptions{Reaper: o.Reaper, Warden: o.Warden, Cgroup: o.Warden != nil, PinCaller: o.PinSpawns})
	if err != nil {
		return nil, err
	}
	lp, err := loop.New()
	if err != nil {
		owner.Close(0)
		return nil, err
	}
	L := lua.NewState(lua.Options{
		CallStackSize:       200,
		RegistrySize:        128,
		RegistryMaxSize:     1 << 20,
		RegistryGrowStep:    128,
		MinimizeStackMemory: true,
	})
	// Every task and every yield-safe pcall is a coroutine, and
	// L.NewThread copies these options as they are (only NewState turns a
	// size below 128 into 5,120): start coroutines' value stacks at 32
	// slots, growing on demand, so a parked coroutine costs 0.5 KB of
	// stack instead of 2 KB (a 1000-process topology holds ~6000).
	L.Options.RegistrySize = threadRegistrySize
	L.Options.RegistryGrowStep = threadRegistrySize
	rt := &Runtime{L: L, opts: o, fds: fdio.NewRegistry(), owner: owner}
	rt.sched = &scheduler{rt: rt, loop: lp, tasks: map[*Task]struct{}{}}
	rt.parkMark = L.NewUserData()
	rt.parkMark.Value = "fdwire.park"
	rt.initErrorMeta(L)
	if dbg, ok := L.GetGlobal("debug").(*lua.LTable); ok {
		rt.traceback, _ = dbg.RawGetString("traceback").(*lua.LFunction)
	}
	rt.overrideBase(L)
	rt.openFd(L)
	rt.openBatch(L)
	rt.openSock(L)
	rt.openProc(L)
	rt.openTask(L)
	rt.openStdlib(L)
	for _, m := range o.Modules {
		if err := m.Open(rt, L); err != nil {
			rt.Close()
			return nil, fmt.Errorf("luabind: opening module %s: %w", m.Name, err)
		}
	}
	if err := rt.loadGlue(L); err != nil {
		rt.Close()
		return nil, err
	}
	rt.setArgs(L)
	return rt, nil
}

// register installs fns in a module table, global and require-able.
func (rt *Runtime) register(L *lua.LState, name string, fns map[string]lua.LGFunction, blocking ...string) *lua.LTable {
	// Sized: L.NewTable reserves 32 list and 32 hash slots whatever the
	// table holds, and start-up makes every module table and metatable.
	mod := L.CreateTable(0, len(fns))
	for k, f := range fns {
		mod.RawSetString(k, L.NewFunction(f))
	}
	rt.surfaces = append(rt.surfaces, surface{name + ".", mod})
	for _, b := range blocking {
		rt.blocking = append(rt.blocking, blockingFn{mod, b})
	}
	L.SetGlobal(name, mod)
	L.PreloadModule(name, func(L *lua.LState) int { L.Push(mod); return 1 })
	return mod
}

// methods builds a userdata metatable whose __index holds fns.
func (rt *Runtime) methods(L *lua.LState, typ string, fns map[string]lua.LGFunction, blocking ...string) (*lua.LTable, *lua.LTable) {
	mt := L.CreateTable(0, 4)
	idx := L.CreateTable(0, len(fns))
	for k, f := range fns {
		idx.RawSetString(k, L.NewFunction(f))
	}
	rt.surfaces = append(rt.surfaces, surface{typ + ":", idx})
	for _, b := range blocking {
		rt.blocking = append(rt.blocking, blockingFn{idx, b})
	}
	mt.RawSetString("__index", idx)
	mt.RawSetString("__name", lua.LString(typ))
	return mt, idx
}

func (rt *Runtime) loadGlue(L *lua.LState) error {
	fn, err := loadGlueFunction(L)
	if err != nil {
		return err
	}
	list := L.CreateTable(len(rt.blocking), 0)
	for _, b := range rt.blocking {
		pair := L.CreateTable(2, 0)
		pair.Append(b.tbl)
		pair.Append(lua.LString(b.name))
		list.Append(pair)
	}
	lazy := L.CreateTable(len(rt.lazy), 0)
	for _, z := range rt.lazy {
		e := L.CreateTable(3, 0)
		e.Append(z.tbl)
		e.Append(lua.LString(z.name))
		e.Append(L.NewFunction(z.load))
		lazy.Append(e)
	}
	isExit := L.NewFunction(func(L *lua.LState) int {
		ud, ok := L.Get(1).(*lua.LUserData)
		_, isex := func() (any, bool) {
			if !ok {
				return nil, false
			}
			e, ok := ud.Value.(*exitRequest)
			return e, ok
		}()
		L.Push(lua.LBool(isex))
		return 1
	})
	// hasContext tells glue.lua's pcall whether the calling coroutine runs
	// under a context (a REPL statement, which Ctrl-C cancels): coroutines
	// made there inherit it, so they are never pooled for reuse elsewhere.
	hasContext := L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LBool(L.Context() != nil))
		return 1
	})
	rt.lastErr = L.CreateTable(0, 2)
	rt.keepError = L.NewFunction(func(L *lua.LState) int { return 1 })
	L.Push(fn)
	L.Push(rt.parkMark)
	L.Push(list)
	L.Push(isExit)
	L.Push(rt.errMeta)
	L.Push(rt.lastErr)
	L.Push(hasContext)
	rt.protectedFn = L.NewFunction(rt.protectedGo)
	L.Push(rt.protectedFn)
	L.Push(lazy)
	L.Push(L.NewFunction(rt.canYieldHere))
	L.Push(L.NewFunction(rt.pcallHere))
	if err := L.PCall(10, 1, nil); err != nil {
		return err
	}
	rt.taskEntry = L.Get(-1).(*lua.LFunction)
	L.Pop(1)
	return nil
}

func (rt *Runtime) setArgs(L *lua.LState) {
	t := L.CreateTable(len(rt.opts.Args), 2)
	t.RawSetInt(0, lua.LString(rt.opts.Script))
	// As in the lua interpreter, arg[-1] is the interpreter: scripts use it
	// to start a second fdwire.
	if exe, err := os.Executable(); err == nil {
		t.RawSetInt(-1, lua.LString(exe))
	}
	for i, a := range rt.opts.Args {
		t.RawSetInt(i+1, lua.LString(a))
	}
	L.SetGlobal("arg", t)
}

// overrideBase replaces os.exit (which would skip cleanup) and print
// (which should follow Options.Stdout).
func (rt *Runtime) overrideBase(L *lua.LState) {
	if osmod, ok := L.GetGlobal("os").(*lua.LTable); ok {
		osmod.RawSetString("exit", L.NewFunction(func(L *lua.LState) int {
			code := 0
			switch v := L.Get(1).(type) {
			case lua.LBool:
				if !v {
					code = 1
				}
			case lua.LNumber:
				code = int(v)
			}
			ud := L.NewUserData()
			ud.Value = &exitRequest{code: code}
			L.Error(ud, 0)
			return 0
		}))
	}
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		n := L.GetTop()
		for i := 1; i <= n; i++ {
			if i > 1 {
				io.WriteString(rt.opts.Stdout, "\t")
			}
			io.WriteString(rt.opts.Stdout, L.ToStringMeta(L.Get(i)).String())
		}
		io.WriteString(rt.opts.Stdout, "\n")
		return 0
	}))
}

// Result is how a chunk ended.
type Result struct {
	Values []lua.LValue
	Err    lua.LValue // the error value, nil on success
	Exit   *int       // set when os.exit was called
}

// ExitCode maps a result to a process exit status.
func (r *Result) ExitCode() int {
	if r.Exit != nil {
		return *r.Exit
	}
	if r.Err != nil {
		return 1
	}
	return 0
}

// RunFile runs a script file as the main task.
func (rt *Runtime) RunFile(path string) *Result {
	var fn *lua.LFunction
	var err error
	if path == "-" {
		src, rerr := io.ReadAll(os.Stdin)
		if rerr != nil {
			return &Result{Err: lua.LString(rerr.Error())}
		}
		fn, err = rt.L.Load(bytesReader(src), "=stdin")
	} else {
		src, rerr := os.ReadFile(path)
		if rerr != nil {
			return &Result{Err: lua.LString(rerr.Error())}
		}
		fn, err = rt.L.Load(bytesReader(src), path)
	}
	if err != nil {
		return &Result{Err: lua.LString(err.Error())}
	}
	return rt.RunFunction(fn)
}

// RunString runs code as the main task.
func (rt *Runtime) RunString(code, name string) *Result {
	fn, err := rt.L.Load(bytesReader([]byte(code)), name)
	if err != nil {
		return &Result{Err: lua.LString(err.Error())}
	}
	return rt.RunFunction(fn)
}

// RunFunction runs fn as a task and drives the scheduler until it ends.
// Other tasks still running then are abandoned, as goroutines are when
// main returns.
func (rt *Runtime) RunFunction(fn *lua.LFunction, args ...lua.LValue) *Result {
	t := rt.sched.newTask(rt.L, fn, args)
	t.awaited = true
	err := rt.sched.runUntil(t)
	if rt.exit != nil {
		code := rt.exit.code
		return &Result{Exit: &code}
	}
	if err != nil {
		return &Result{Err: rt.errorValue(rt.L, err)}
	}
	if t.failed {
		if ud, ok := t.errv.(*lua.LUserData); ok {
			if ex, ok := ud.Value.(*exitRequest); ok {
				code := ex.code
				return &Result{Exit: &code}
			}
		}
		return &Result{Err: t.errv}
	}
	return &Result{Values: t.results}
}

// unawaitedFailure reports a background task's error: set -e for tasks.
func (rt *Runtime) unawaitedFailure(t *Task) {
	if ud, ok := t.errv.(*lua.LUserData); ok {
		if ex, ok := ud.Value.(*exitRequest); ok {
			rt.exit = ex
			return
		}
	}
	rt.failures++
	fmt.Fprintf(rt.opts.Stderr, "fdwire: task %d failed: %s\n", t.id, rt.ErrorReport(t.errv))
}

// Failures counts background tasks that failed with nobody waiting.
func (rt *Runtime) Failures() int { return rt.failures }

// ErrorReport is the message and, when known, the Lua traceback.
func (rt *Runtime) ErrorReport(v lua.LValue) string {
	s := ErrorText(v)
	if t, ok := v.(*lua.LTable); ok && t.RawGetString("op") == lua.LNil {
		// A table of the script's own with a __tostring says best what it is.
		if mt, ok := t.Metatable.(*lua.LTable); ok && mt.RawGetString("__tostring") != lua.LNil {
			if err := rt.L.CallByParam(lua.P{Fn: rt.L.GetGlobal("tostring"), NRet: 1, Protect: true}, v); err == nil {
				s = lua.LVAsString(rt.L.Get(-1))
				rt.L.Pop(1)
			}
		}
	}
	tb := ""
	if t, ok := v.(*lua.LTable); ok {
		tb = lua.LVAsString(t.RawGetString("traceback"))
	}
	if tb == "" && rt.lastErr != nil && rt.lastErr.RawGetString("value") == v {
		tb = lua.LVAsString(rt.lastErr.RawGetString("traceback"))
	}
	if tb != "" {
		s += "\n" + trimTraceback(tb)
	}
	return s
}

// Close ends the runtime: its children are terminated (SIGTERM, grace,
// SIGKILL) unless detached, and every handle it owns is closed. Another
// runtime's children and handles are not touched. It works with the
// descriptor table full (see proc.Owner.Close).
func (rt *Runtime) Close() {
	if rt.closed {
		return
	}
	rt.closed = true
	procs := rt.owner.Children()
	rt.owner.Close(rt.opts.Grace)
	for _, p := range procs {
		p.CloseFdstore()
	}
	rt.fds.CloseAll()
	rt.sched.loop.Close()
	rt.L.Close()
}

// Warden is Options.Warden (nil: none; its methods then do nothing).
func (rt *Runtime) Warden() *reap.Warden { return rt.opts.Warden }

// WardenWatch tells the warden (if any) about what closing f removes (a
// "file" or "dir" at path), and that it is gone once f closes, so that a
// SIGKILL of this process does not leave it behind. Best effort: f still
// removes it on every other ending.
func (rt *Runtime) WardenWatch(f *fdio.FD, kind, path string) {
	w := rt.Warden()
	if w == nil || w.Watch(kind, path) != nil {
		return
	}
	f.OnClose(func() { w.Unwatch(path) })
}

// NoteSignalWatch records that a Lua watch takes sigs (delta 1) or no
// longer does (delta -1); any goroutine.
func (rt *Runtime) NoteSignalWatch(sigs []os.Signal, delta int) {
	rt.watchMu.Lock()
	defer rt.watchMu.Unlock()
	if rt.watched == nil {
		rt.watched = map[os.Signal]int{}
	}
	for _, s := range sigs {
		rt.watched[s] += delta
	}
}

// SignalWatched reports whether a Lua watch takes sig now; any goroutine.
func (rt *Runtime) SignalWatched(sig os.Signal) bool {
	rt.watchMu.Lock()
	defer rt.watchMu.Unlock()
	return rt.watched[sig] > 0
}

// Interrupt ends the run as os.exit(code) would, from any goroutine (a
// signal handler): the loop wakes, the main task is abandoned, and Close
// then terminates children and closes handles.
func (rt *Runtime) Interrupt(code int) {
	rt.sched.loop.Post(func() {
		if rt.exit == nil {
			rt.exit = &exitRequest{code: code}
		}
	})
}
