package luabind

import (
	"runtime"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// canYieldWhole is canYield as it was before the short first look: one
// walk of up to 96 frames, each named by FuncForPC.
func canYieldWhole() yieldKind {
	var pcs [96]uintptr
	n := runtime.Callers(3, pcs[:])
	seenLoop, via := false, false
	for _, pc := range pcs[:n] {
		k := frameOther
		if f := runtime.FuncForPC(pc - 1); f != nil {
			switch name := f.Name(); {
			case name == protectedGoName:
				k = frameProtected
			case name == "github.com/yuin/gopher-lua.mainLoop", name == "github.com/yuin/gopher-lua.mainLoopWithContext":
				k = frameLoop
			case name == "github.com/yuin/gopher-lua.threadRun":
				k = frameThread
			}
		}
		switch k {
		case frameLoop:
			if seenLoop {
				return yieldNo
			}
			seenLoop = true
		case frameProtected:
			if !seenLoop || via {
				return yieldNo
			}
			seenLoop, via = false, true
		case frameThread:
			if !seenLoop {
				return yieldNo
			}
			if via {
				return yieldViaPcall
			}
			return yieldDirect
		}
	}
	if !seenLoop && !via {
		return yieldDirect
	}
	return yieldNo
}

// probeYield stands where parkCall does, so both walks start at the binding.
func probeYield() (yieldKind, yieldKind) { return canYield(), canYieldWhole() }

// TestCanYieldShortLookAgrees: canYield's 8-frame first look (with its
// cached frame kinds, looked up twice here) decides as the whole walk
// does, in every place a binding can be called from: the task's loop, an
// iterator, a metamethod, pcall, pcall in pcall, sort, deep Go stacks.
func TestCanYieldShortLookAgrees(t *testing.T) {
	leakcheck.Check(t)
	var got []string
	kinds := map[string]yieldKind{}
	probe := Module{Name: "probe", Open: func(rt *Runtime, L *lua.LState) error {
		_, err := rt.Extend(L, "fd", map[string]lua.LGFunction{"yieldprobe": func(L *lua.LState) int {
			for i := 0; i < 2; i++ {
				short, whole := probeYield()
				if short != whole {
					got = append(got, L.CheckString(1)+": short look says "+string('0'+rune(short))+", whole walk "+string('0'+rune(whole)))
				}
			}
			got = append(got, L.CheckString(1))
			kinds[L.CheckString(1)], _ = probeYield()
			return 0
		}})
		return err
	}}
	rt, err := New(Options{Modules: append(append([]Module{}, testModules...), probe)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	res := rt.RunString(`
		local p = fd.yieldprobe
		p("main")
		task.wait(task.spawn(function() p("task") end))
		for _ in function(_, i) if not i then p("iterator") return 1 end end do end
		local mt = setmetatable({}, {__index = function() p("metamethod") return 1 end})
		local _ = mt.x
		pcall(p, "pcall")
		pcall(function() p("pcall function") end)
		pcall(pcall, p, "pcall in pcall")
		local sorted = false
		table.sort({3, 2, 1}, function(a, b) if not sorted then sorted = true p("sort") end return a < b end)
		local function nest(n) if n == 0 then p("deep") else pcall(nest, n - 1) end end
		nest(12)
		task.wait(task.spawn(function() nest(12) end))
	`, "probe")
	if res.Err != nil {
		t.Fatal(rt.ErrorReport(res.Err))
	}
	for _, g := range got {
		if strings.Contains(g, "says") {
			t.Error(g)
		}
	}
	for where, want := range map[string]yieldKind{"main": yieldDirect, "task": yieldDirect, "iterator": yieldNo,
		"metamethod": yieldNo, "sort": yieldNo} {
		if kinds[where] != want {
			t.Errorf("%s: canYield says %d, want %d", where, kinds[where], want)
		}
	}
	if len(got) < 10 {
		t.Errorf("probe ran %d times: %v", len(got), got)
	}
}
