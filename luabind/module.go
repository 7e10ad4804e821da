package luabind

import (
	"fmt"
	"sort"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/runtime/fdio"
)

// A Module adds Lua functions to a Runtime. The core modules (fd, sock,
// proc, task and the embedded stdlib) are always there; every other module
// is listed in Options.Modules and opened, in order, after them and before
// the glue wraps blocking functions. Each module registers its own
// functions with Register, Extend, Methods or LuaSurface, and
// Runtime.Functions is derived from exactly that.
type Module struct {
	Name string
	Open func(rt *Runtime, L *lua.LState) error
}

// surface is a function table registered under a qualified prefix ("fd."
// or "Fd:"), read when Functions is asked for.
type surface struct {
	prefix string
	tbl    *lua.LTable
}

// luaSurface names a table of a Lua-implemented module, found by
// require(module) and then the fields of path, whose functions are listed
// under prefix. It is read only when Functions is asked for, so a lazily
// loaded module (topo) still loads on first use in scripts.
type luaSurface struct {
	prefix string
	module string
	path   []string
}

// Register installs fns as module name (a global and require-able) and
// marks the blocking ones for the glue; see register.
func (rt *Runtime) Register(L *lua.LState, name string, fns map[string]lua.LGFunction, blocking ...string) *lua.LTable {
	return rt.register(L, name, fns, blocking...)
}

// LazyLua makes tbl[name] a function written in Lua whose source is
// compiled only when it is first called: src is a chunk that receives tbl
// and sets tbl[name]. gopher-lua allocates some 17 KB per compiled
// function, and a start-up of fdwire compiles nothing it does not run.
// Until the first call tbl[name] is a small Lua function of glue.lua that
// compiles src and tail-calls the real one, so it may block and park like
// any Lua function, and it is listed in Functions like the others. Call it
// from a Module's Open.
func (rt *Runtime) LazyLua(tbl *lua.LTable, name, chunk, src string) {
	var fn lua.LValue = lua.LNil
	load := func(L *lua.LState) int {
		if fn == lua.LNil {
			f, err := L.Load(bytesReader([]byte(src)), chunk)
			if err != nil {
				L.RaiseError("loading %s: %v", chunk, err)
			}
			placeholder := tbl.RawGetString(name)
			L.Push(f)
			L.Push(tbl)
			L.Call(1, 0)
			if got := tbl.RawGetString(name); got.Type() != lua.LTFunction || got == placeholder {
				L.RaiseError("loading %s: it did not define %s", chunk, name)
			} else {
				fn = got
			}
		}
		L.Push(fn)
		return 1
	}
	rt.lazy = append(rt.lazy, lazyFn{tbl, name, load})
}

// Extend adds fns to a module that is already registered (fd.ready lives
// with the helpers but belongs in fd).
func (rt *Runtime) Extend(L *lua.LState, name string, fns map[string]lua.LGFunction, blocking ...string) (*lua.LTable, error) {
	mod, ok := L.GetGlobal(name).(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("luabind: cannot extend %s: no such module", name)
	}
	for k, f := range fns {
		mod.RawSetString(k, L.NewFunction(f))
	}
	for _, b := range blocking {
		rt.blocking = append(rt.blocking, blockingFn{mod, b})
	}
	return mod, nil
}

// Methods builds a userdata metatable whose __index holds fns; see methods.
func (rt *Runtime) Methods(L *lua.LState, typ string, fns map[string]lua.LGFunction, blocking ...string) (mt, index *lua.LTable) {
	return rt.methods(L, typ, fns, blocking...)
}

// LuaSurface declares the public functions of a Lua-implemented module:
// the function fields of require(module)[path[1]][path[2]]..., named
// prefix..key ("topo." or "Topology:"). Keys starting with "_" are
// private.
func (rt *Runtime) LuaSurface(prefix, module string, path ...string) {
	rt.luaSurfaces = append(rt.luaSurfaces, luaSurface{prefix, module, path})
}

// Functions lists every public Lua function by qualified name ("fd.pipe",
// "Fd:read", "topo.up"), sorted: what the modules registered, read from
// the tables themselves, so a function added in Lua (fs.wait_path,
// task.timeout) counts as much as one added in Go. Lua-implemented
// modules are loaded the first time this is called.
func (rt *Runtime) Functions() []string {
	if rt.functions != nil {
		return rt.functions
	}
	seen := map[string]bool{}
	add := func(prefix string, t *lua.LTable) {
		t.ForEach(func(k, v lua.LValue) {
			s, ok := k.(lua.LString)
			if !ok || strings.HasPrefix(string(s), "_") || v.Type() != lua.LTFunction {
				return
			}
			seen[prefix+string(s)] = true
		})
	}
	for _, s := range rt.surfaces {
		add(s.prefix, s.tbl)
	}
	L := rt.L
	for _, s := range rt.luaSurfaces {
		if err := L.CallByParam(lua.P{Fn: L.GetGlobal("require"), NRet: 1, Protect: true}, lua.LString(s.module)); err != nil {
			seen[s.prefix+"?"+err.Error()] = true // shows in the docs test
			continue
		}
		v := L.Get(-1)
		L.Pop(1)
		for _, p := range s.path {
			if t, ok := v.(*lua.LTable); ok {
				v = t.RawGetString(p)
			}
		}
		if t, ok := v.(*lua.LTable); ok {
			add(s.prefix, t)
		} else {
			seen[s.prefix+"?not a table"] = true
		}
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	sort.Strings(out)
	rt.functions = out
	return out
}

// NewFd wraps a handle in an Fd userdata owned by this runtime.
func (rt *Runtime) NewFd(L *lua.LState, f *fdio.FD) *lua.LUserData { return rt.newFd(L, f) }

// CheckFd requires an Fd at argument n of fn (named name in errors).
func (rt *Runtime) CheckFd(L *lua.LState, fn string, n int, name string) *fdio.FD {
	return rt.checkFd(L, fn, n, name)
}

// CheckOpenFd is CheckFd that also refuses a closed handle.
func (rt *Runtime) CheckOpenFd(L *lua.LState, fn string, n int, name string) *fdio.FD {
	return rt.checkOpenFd(L, fn, n, name)
}

// CheckString requires a string at argument n.
func (rt *Runtime) CheckString(L *lua.LState, fn string, n int, name string) string {
	return rt.checkString(L, fn, n, name)
}

// CheckInt requires an integer at argument n.
func (rt *Runtime) CheckInt(L *lua.LState, fn string, n int, name string) int {
	return rt.checkInt(L, fn, n, name)
}

// OptTable returns argument n as a table, or nil when absent.
func (rt *Runtime) OptTable(L *lua.LState, fn string, n int, name string) *lua.LTable {
	return rt.optTable(L, fn, n, name)
}

// ArgError raises "fn: bad argument #n (name): msg" as a structured EINVAL.
func (rt *Runtime) ArgError(L *lua.LState, fn string, n int, name, format string, args ...any) int {
	return rt.argError(L, fn, n, name, format, args...)
}

// Raise raises err as a structured Lua error.
func (rt *Runtime) Raise(L *lua.LState, err error) int { return rt.raise(L, err) }

// SoftFail returns nil and err as a structured error value (op, errno,
// name, msg), not raised: for natives whose failure is an expected answer
// (a process gone, no cgroup delegated) that the caller branches on.
func (rt *Runtime) SoftFail(L *lua.LState, err error) int {
	L.Push(lua.LNil)
	L.Push(rt.errorValue(L, err))
	return 2
}

// Park suspends the running task until f has events, then calls try
// (results, an error, or EAGAIN to wait again).
func (rt *Runtime) Park(L *lua.LState, op string, f *fdio.FD, events int16, timeout time.Duration, try func() ([]lua.LValue, error)) int {
	return rt.park(L, op, f, events, timeout, try)
}

// OptTimeout reads opts.timeout (seconds) from an options table.
func OptTimeout(L *lua.LState, opts *lua.LTable) time.Duration { return optTimeout(L, opts) }

// TypeName is a value's type as argument errors name it ("Fd", "table").
func TypeName(v lua.LValue) string { return typeName(v) }
