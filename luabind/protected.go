package luabind

import (
	lua "github.com/yuin/gopher-lua"
)

// pcall of a blocking binding without a coroutine.
//
// glue.lua's yield-safe pcall runs a Lua function in a worker coroutine
// (a whole LState) so that the function may park anywhere inside. A
// blocking binding (fd:read, Proc:wait, sock.accept, ...) parks only at
// its very end, and a task that waits in pcall(r.read, r, n) is the
// common case: a 1000-process topology had 3000 workers parked that way.
// protectedGo runs the binding under gopher-lua's own L.PCall instead,
// in the caller's coroutine: an error raised at once comes back as
// (false, err); a binding that would park registers its wake-up as
// always but returns to protectedGo instead of yielding inside PCall
// (which the VM cannot survive; see canYield's yieldViaPcall), and
// protectedGo yields from the task's own loop. The scheduler then
// resumes it with (true, results...) or (false, err): exactly pcall's
// results, with no coroutine made.

// protectedGoName is protectedGo's frame name for canYield.
const protectedGoName = "github.com/fdwire/fdwire/luabind.(*Runtime).protectedGo"

// protectedGo(raw, args...) -> (true, results...) | (false, err). raw is
// a blocking binding as registered (before glue.lua's wrapper), which
// returns (true, results...) when it finished at once.
//
//go:noinline
func (rt *Runtime) protectedGo(L *lua.LState) int {
	rt.pcallDepth++
	depth := rt.pcallDepth
	// The error handler makes PCall keep the caller's open upvalues: an
	// error raised without one closes every upvalue of the coroutine's
	// frames (gopher-lua's raiseError), detaching the caller's locals
	// from the closures that share them.
	err := L.PCall(L.GetTop()-1, lua.MultRet, rt.keepError)
	rt.pcallDepth--
	if rt.pcallParked == depth {
		rt.pcallParked = 0
		return L.Yield(rt.parkMark)
	}
	if err != nil {
		L.Push(lua.LFalse)
		if ae, ok := err.(*lua.ApiError); ok {
			L.Push(ae.Object)
		} else {
			L.Push(lua.LString(err.Error()))
		}
		return 2
	}
	return L.GetTop()
}

// yieldPark ends a binding that registered its wake-up: it yields the
// park mark, or, called straight from protectedGo, leaves the yield to it.
// Every park of a blocking binding must end here, never in L.Yield: a
// yield inside protectedGo's PCall would break the VM.
func (rt *Runtime) yieldPark(L *lua.LState, k yieldKind) int {
	if k == yieldViaPcall {
		rt.pcallParked = rt.pcallDepth
		L.SetTop(0)
		return 0
	}
	return L.Yield(rt.parkMark)
}

// canYieldHere() -> whether the Lua code that calls it may yield: glue.lua's
// pcall asks before it runs a Lua function in a worker coroutine, whose
// parks it would have to pass outward from a loop that cannot yield (a
// for-in iterator, a metamethod, a callback Lua calls from Go).
func (rt *Runtime) canYieldHere(L *lua.LState) int {
	L.Push(lua.LBool(canYield() != yieldNo))
	return 1
}

// pcallHere(f, args...) -> (true, results...) | (false, err): pcall in the
// caller's coroutine, for where no worker can pass a park outward; a
// blocking call inside f then waits in place, as it does there unprotected.
func (rt *Runtime) pcallHere(L *lua.LState) int {
	if err := L.PCall(L.GetTop()-1, lua.MultRet, rt.keepError); err != nil {
		L.Push(lua.LFalse)
		if ae, ok := err.(*lua.ApiError); ok {
			L.Push(ae.Object)
		} else {
			L.Push(lua.LString(err.Error()))
		}
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}
