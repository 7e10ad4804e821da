package topobind

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/runtime/diag"
)

// topoKcmp(pid1, fd1, pid2, fd2) -> true when the two descriptors are one
// open file description (kcmp KCMP_FILE), false when not, or nil, message
// when the kernel cannot say (a process gone, a descriptor closed, no
// ptrace access).
func (rt host) topoKcmp(L *lua.LState) int {
	same, err := diag.SameFile(L.CheckInt(1), L.CheckInt(2), L.CheckInt(3), L.CheckInt(4))
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(lua.LBool(same))
	return 1
}

// topoGoProgram(pid) -> whether pid runs a Go program (nil, message when
// its executable cannot be read).
func (rt host) topoGoProgram(L *lua.LState) int {
	ok, err := diag.GoProgram(L.CheckInt(1))
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(lua.LBool(ok))
	return 1
}
