package luabind

import (
	"errors"
	"fmt"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/sys"
)

// errorMeta is the metatable of every error value fdwire raises: a table
// with op, addr, errno, name and msg, printed by __tostring as
// "connect unix:/run/x.sock: ECONNREFUSED: connection refused".
func (rt *Runtime) initErrorMeta(L *lua.LState) {
	mt := L.NewTable()
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(errorString(L.CheckTable(1))))
		return 1
	}))
	mt.RawSetString("__name", lua.LString("fdwire.error"))
	rt.errMeta = mt
}

func errorString(t *lua.LTable) string {
	s := lua.LVAsString(t.RawGetString("op"))
	if a := lua.LVAsString(t.RawGetString("addr")); a != "" {
		s += " " + a
	}
	return s + ": " + lua.LVAsString(t.RawGetString("name")) + ": " + lua.LVAsString(t.RawGetString("msg"))
}

// errorValue converts a Go error into the Lua error table.
func (rt *Runtime) errorValue(L *lua.LState, err error) *lua.LTable {
	t := L.NewTable()
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
	if err := L.CallByParam(lua.P{Fn: rt.traceback, NRet: 1, Protect: true}, lua.LString(""), lua.LNumber(2)); err == nil {
		t.RawSetString("traceback", L.Get(-1))
		L.Pop(1)
	}
}

// argError raises "fn: bad argument #n (name): msg" as a structured EINVAL.
func (rt *Runtime) argError(L *lua.LState, fn string, n int, name, format string, args ...any) int {
	msg := fmt.Sprintf("bad argument #%d (%s): %s", n, name, fmt.Sprintf(format, args...))
	t := L.NewTable()
	t.RawSetString("op", lua.LString(fn))
	t.RawSetString("errno", lua.LNumber(unix.EINVAL))
	t.RawSetString("name", lua.LString("EINVAL"))
	t.RawSetString("msg", lua.LString(msg))
	L.SetMetatable(t, rt.errMeta)
	rt.attachTraceback(L, t)
	L.Error(t, 0)
	return 0
}

// isErrorValue reports whether v is one of fdwire's error tables.
func (rt *Runtime) isErrorValue(v lua.LValue) bool {
	t, ok := v.(*lua.LTable)
	return ok && t.Metatable == rt.errMeta
}

// ErrorText renders any Lua error value for a person.
func ErrorText(v lua.LValue) string {
	switch x := v.(type) {
	case *lua.LTable:
		if _, ok := x.RawGetString("op").(lua.LString); ok {
			return errorString(x)
		}
	case *lua.LUserData:
		if ex, ok := x.Value.(*exitRequest); ok {
			return fmt.Sprintf("exit %d", ex.code)
		}
	}
	return lua.LVAsString(v)
}
