package luabind

import (
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// LazyLua functions are listed from the start, compiled at their first
// call (which may park), replaced by the real function in their table,
// and a chunk that fails to compile or to define the name raises a clear
// error at that call, every call.
func TestLazyLua(t *testing.T) {
	lazy := Module{Name: "lazy", Open: func(rt *Runtime, L *lua.LState) error {
		mod := rt.Register(L, "lz", map[string]lua.LGFunction{})
		rt.LazyLua(mod, "nap", "lz.nap", `
			local lz = ...
			function lz.nap(s, v) task.sleep(s) return v, lz.nap end`)
		rt.LazyLua(mod, "broken", "lz.broken", `local lz = ... function lz.broken( end`)
		rt.LazyLua(mod, "missing", "lz.missing", `local lz = ...`)
		return nil
	}}
	rt, err := New(Options{Modules: append(append([]Module{}, testModules...), lazy)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	fns := strings.Join(rt.Functions(), " ")
	for _, want := range []string{"lz.nap", "lz.broken", "lz.missing"} {
		if !strings.Contains(fns, want) {
			t.Errorf("Functions() lacks %s", want)
		}
	}
	res := rt.RunString(`
		local first = lz.nap
		local t = task.spawn(function() return lz.nap(0.01, "slept") end)
		local v, real = first(0.01, "direct")
		local tv = t:wait()
		local ok1, e1 = pcall(lz.broken)
		local ok2, e2 = pcall(lz.broken)
		local ok3, e3 = pcall(lz.missing)
		return v, tv, tostring(real == lz.nap and real ~= first), tostring(ok1), tostring(e1 == e2 or tostring(e1) == tostring(e2)), tostring(e1), tostring(ok3), tostring(e3)
	`, "=test")
	if res.Err != nil {
		t.Fatal(rt.ErrorReport(res.Err))
	}
	var got []string
	for _, v := range res.Values {
		got = append(got, v.String())
	}
	if len(got) != 8 || got[0] != "direct" || got[1] != "slept" || got[2] != "true" || got[3] != "false" || got[4] != "true" ||
		!strings.Contains(got[5], "loading lz.broken") || got[6] != "false" || !strings.Contains(got[7], "did not define missing") {
		t.Errorf("got %q", got)
	}
}
