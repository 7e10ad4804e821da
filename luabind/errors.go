package luabind

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/sys"
)

// errorMeta is the metatable of every error value fdwire raises: a table
// with op, addr, errno, name and msg, printed by __tostring as
// "connect unix:/run/x.sock: ECONNREFUSED: connection refused".
func (rt *Runtime) initErrorMeta(L *lua.LState) {
	mt := L.CreateTable(0, 2)
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(errorString(L.CheckTable(1))))
		return 1
	}))
	mt.RawSetString("__name", lua.LString("fdwire.error"))
	rt.errMeta = mt
}

func errorString(t *lua.LTable) string {
	return sys.Format(lua.LVAsString(t.RawGetString("op")), lua.LVAsString(t.RawGetString("addr")),
		lua.LVAsString(t.RawGetString("name")), lua.LVAsString(t.RawGetString("msg")))
}

// errorValue converts a Go error into the Lua error table.
func (rt *Runtime) errorValue(L *lua.LState, err error) *lua.LTable {
	t := L.CreateTable(0, 8) // op, addr, errno, name, msg, traceback, ...
	var se *sys.Error
	var pe *addr.ParseError
	switch {
	case errors.As(err, &se):
		t.RawSetString("op", lua.LString(se.Op))
		if se.Addr != "" {
			t.RawSetString("addr", lua.LString(se.Addr))
		}
		t.RawSetString("errno", lua.LNumber(se.Errno()))
		t.RawSetString("name", lua.LString(se.Name()))
		t.RawSetString("msg", lua.LString(se.Msg()))
		for k, v := range se.Facts {
			t.RawSetString(k, factValue(v))
		}
	case errors.As(err, &pe):
		t.RawSetString("op", lua.LString("address"))
		t.RawSetString("addr", lua.LString(fmt.Sprintf("%q", pe.Input)))
		t.RawSetString("errno", lua.LNumber(unix.EINVAL))
		t.RawSetString("name", lua.LString("EINVAL"))
		t.RawSetString("msg", lua.LString(pe.Why))
	default:
		var en unix.Errno
		errors.As(err, &en)
		t.RawSetString("op", lua.LString("fdwire"))
		t.RawSetString("errno", lua.LNumber(en))
		name := "ERROR"
		if en != 0 {
			name = unix.ErrnoName(en)
		}
		t.RawSetString("name", lua.LString(name))
		t.RawSetString("msg", lua.LString(err.Error()))
	}
	L.SetMetatable(t, rt.errMeta)
	return t
}

// errMsg is an error's text without its op and object.
func errMsg(err error) string {
	var se *sys.Error
	if errors.As(err, &se) {
		return se.Msg()
	}
	return err.Error()
}

// factValue converts one sys.Error fact to Lua.
func factValue(v any) lua.LValue {
	switch x := v.(type) {
	case int:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []byte:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case lua.LValue: // a value already made for Lua (recvfds_many's messages)
		return x
	}
	return lua.LString(fmt.Sprint(v))
}

// raise raises err as a structured Lua error, with the Lua traceback of
// the place that made the failing call.
func (rt *Runtime) raise(L *lua.LState, err error) int {
	t := rt.errorValue(L, err)
	rt.attachTraceback(L, t)
	L.Error(t, 0)
	return 0
}

func (rt *Runtime) attachTraceback(L *lua.LState, t *lua.LTable) {
	if rt.traceback == nil {
		return
	}
	// Unprotected: debug.traceback is a Go function that cannot fail on
	// these arguments, and a protected call here would end the error
	// handler of an enclosing PCall (protected.go) before the raise.
	L.CallByParam(lua.P{Fn: rt.traceback, NRet: 1, Protect: false}, lua.LString(""), lua.LNumber(2))
	t.RawSetString("traceback", L.Get(-1))
	L.Pop(1)
}

// argError raises "fn: bad argument #n (name): msg" as a structured EINVAL.
func (rt *Runtime) argError(L *lua.LState, fn string, n int, name, format string, args ...any) int {
	return rt.argErrno(L, unix.EINVAL, fn, n, name, format, args...)
}

// argErrno is argError with another errno (EBADF for a closed handle).
// The value also carries arg (the position) and argname, so a caller can
// tell which argument was refused without parsing msg.
func (rt *Runtime) argErrno(L *lua.LState, errno unix.Errno, fn string, n int, name, format string, args ...any) int {
	msg := fmt.Sprintf("bad argument #%d (%s): %s", n, name, fmt.Sprintf(format, args...))
	t := L.CreateTable(0, 8)
	t.RawSetString("op", lua.LString(fn))
	t.RawSetString("errno", lua.LNumber(errno))
	t.RawSetString("name", lua.LString(unix.ErrnoName(errno)))
	t.RawSetString("msg", lua.LString(msg))
	t.RawSetString("arg", lua.LNumber(n))
	t.RawSetString("argname", lua.LString(name))
	L.SetMetatable(t, rt.errMeta)
	rt.attachTraceback(L, t)
	L.Error(t, 0)
	return 0
}

// closedError raises EBADF for a closed handle at argument n.
func (rt *Runtime) closedError(L *lua.LState, fn string, n int, name string) int {
	return rt.argErrno(L, unix.EBADF, fn, n, name, "the handle is closed")
}

var errnoNames = sync.OnceValue(func() map[string]unix.Errno {
	m := map[string]unix.Errno{}
	for e := unix.Errno(1); e < 256; e++ {
		if n := unix.ErrnoName(e); n != "" {
			m[n] = e
		}
	}
	return m
})

// openErrors preloads "fdwire.errors", which the stdlib's Lua code uses
// to raise the same error values the primitives raise: new(op, name, msg,
// fields) -> error value with errno looked up from name ("EINVAL"), the
// runtime's error metatable, and any extra fields (arg, argname, ...).
func (rt *Runtime) openErrors(L *lua.LState) {
	mod := L.NewTable()
	mod.RawSetString("new", L.NewFunction(func(L *lua.LState) int {
		a := rt.Args(L, "errors.new")
		op := rt.checkString(L, a.Fn, 1, "op")
		name := rt.checkString(L, a.Fn, 2, "name")
		msg := rt.checkString(L, a.Fn, 3, "msg")
		en, ok := errnoNames()[name]
		if !ok && name != "ERROR" {
			return a.Error(2, "name", "%q is not an errno name (EINVAL, ENOENT, ...)", name)
		}
		t := L.NewTable()
		if f, ok := L.Get(4).(*lua.LTable); ok {
			f.ForEach(func(k, v lua.LValue) { t.RawSet(k, v) })
		}
		t.RawSetString("op", lua.LString(op))
		t.RawSetString("errno", lua.LNumber(en))
		t.RawSetString("name", lua.LString(name))
		t.RawSetString("msg", lua.LString(msg))
		L.SetMetatable(t, rt.errMeta)
		L.Push(t)
		return 1
	}))
	L.PreloadModule("fdwire.errors", func(L *lua.LState) int { L.Push(mod); return 1 })
}

// isErrorValue reports whether v is one of fdwire's error tables.
func (rt *Runtime) isErrorValue(v lua.LValue) bool {
	t, ok := v.(*lua.LTable)
	return ok && t.Metatable == rt.errMeta
}

// ErrorText renders any Lua error value for a person, including the
// ones that carry no message (error(nil), error({})).
func ErrorText(v lua.LValue) string {
	switch x := v.(type) {
	case *lua.LNilType:
		return "error(nil) was raised: the error has no value and no message"
	case *lua.LTable:
		if _, ok := x.RawGetString("op").(lua.LString); ok {
			return errorString(x)
		}
		if m, ok := x.RawGetString("msg").(lua.LString); ok {
			return string(m)
		}
		if m, ok := x.RawGetString("message").(lua.LString); ok {
			return string(m)
		}
		return "an error table with no op, msg or message field was raised: " + tableSketch(x)
	case *lua.LUserData:
		if ex, ok := x.Value.(*exitRequest); ok {
			return fmt.Sprintf("exit %d", ex.code)
		}
		return "a " + typeName(x) + " value was raised as an error"
	case lua.LBool, *lua.LFunction:
		return "a " + x.Type().String() + " value was raised as an error: " + lua.LVAsString(x)
	}
	s := lua.LVAsString(v)
	if s == "" {
		return "an empty error message was raised"
	}
	return s
}

// tableSketch shows a few fields of a table, "{}" when it has none.
func tableSketch(t *lua.LTable) string {
	var parts []string
	t.ForEach(func(k, v lua.LValue) {
		if len(parts) < 4 {
			parts = append(parts, lua.LVAsString(k)+"="+typeName(v))
		}
	})
	return "{" + strings.Join(parts, ", ") + "}"
}
