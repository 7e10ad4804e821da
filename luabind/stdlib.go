package luabind

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/stdlib"
)

// openStdlib makes every embedded stdlib module require-able as
// "fdwire.NAME". Modules load on first require.
func (rt *Runtime) openStdlib(L *lua.LState) {
	for _, name := range stdlib.Names() {
		L.PreloadModule(name, func(L *lua.LState) int {
			src, _ := stdlib.Source(name)
			fn, err := L.Load(bytesReader([]byte(src)), "="+name)
			if err != nil {
				L.RaiseError("loading %s: %v", name, err)
			}
			L.Push(fn)
			L.Push(lua.LString(name))
			L.Call(1, 1)
			return 1
		})
	}
}

// RunModuleMain runs require(module).main(args) as the main task; the
// number main returns is the exit status. Tools (fdwire send, ...) run
// this way, so each tool's main is testable without spawning a process.
func (rt *Runtime) RunModuleMain(module string, args []string) *Result {
	fn, err := rt.L.Load(bytesReader([]byte(`
		local module, args = ...
		local m = require(module)
		local code = m.main(args)
		if type(code) == "number" and code ~= 0 then os.exit(code) end
	`)), "="+module)
	if err != nil {
		return &Result{Err: lua.LString(err.Error())}
	}
	t := rt.L.CreateTable(len(args), 0)
	for _, a := range args {
		t.Append(lua.LString(a))
	}
	return rt.RunFunction(fn, lua.LString(module), t)
}
