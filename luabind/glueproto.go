package luabind

import (
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// glue.lua is compiled once per process, in a goroutine started at package
// init, so that on a machine with a second core the compile (about half of
// luabind.New: gopher-lua allocates some 17 KB per compiled function, and
// on a fresh heap each page of it faults) overlaps the rest of start-up.
// Every runtime then makes its function from the shared prototype, which
// the VM only reads (gopher-lua's README shares compiled code between
// LStates the same way).
var glueProto = func() func() (*lua.FunctionProto, error) {
	type compiled struct {
		proto *lua.FunctionProto
		err   error
	}
	done := make(chan compiled, 1)
	go func() {
		// "<string>" is the chunk name L.LoadString gave it.
		chunk, err := parse.Parse(strings.NewReader(glueSource), "<string>")
		if err != nil {
			done <- compiled{nil, err}
			return
		}
		p, err := lua.Compile(chunk, "<string>")
		done <- compiled{p, err}
	}()
	return sync.OnceValues(func() (*lua.FunctionProto, error) {
		c := <-done
		return c.proto, c.err
	})
}()

// loadGlueFunction is L.LoadString(glueSource) from the shared prototype.
func loadGlueFunction(L *lua.LState) (*lua.LFunction, error) {
	p, err := glueProto()
	if err != nil {
		return nil, err
	}
	return L.NewFunctionFromProto(p), nil
}
