package topobind

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/runtime/diag"
)

// topoKcmp(pid1, fd1, pid2, fd2) -> true when the two descriptors are one
// open file description (kcmp KCMP_FILE), false when not, or nil and an
// error value when the kernel cannot say (a process gone, a descriptor
// closed, no ptrace access).
func (rt host) topoKcmp(L *lua.LState) int {
	a := rt.Args(L, "fdwire.topo.native.kcmp")
	fdr := luabind.Range{Min: 0, Max: 1<<31 - 1, What: "a descriptor number", Note: "an int"}
	same, err := diag.SameFile(int(a.Int(1, "pid1", luabind.RangePid)), int(a.Int(2, "fd1", fdr)),
		int(a.Int(3, "pid2", luabind.RangePid)), int(a.Int(4, "fd2", fdr)))
	if err != nil {
		return rt.SoftFail(L, err)
	}
	L.Push(lua.LBool(same))
	return 1
}

// topoGoProgram(pid) -> whether pid runs a Go program (nil and an error
// value when its executable cannot be read).
func (rt host) topoGoProgram(L *lua.LState) int {
	ok, err := diag.GoProgram(rt.pid(L, "go_program"))
	if err != nil {
		return rt.SoftFail(L, err)
	}
	L.Push(lua.LBool(ok))
	return 1
}
