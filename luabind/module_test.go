package luabind

import (
	"slices"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// TestFunctionsDerivedFromModules: Functions lists what a module really
// put in its tables, Go or Lua, and nothing private; an extension of a
// core module counts too, and a module that fails to open fails New.
func TestFunctionsDerivedFromModules(t *testing.T) {
	leakcheck.Check(t)
	m := Module{Name: "demo", Open: func(rt *Runtime, L *lua.LState) error {
		rt.Register(L, "demo", map[string]lua.LGFunction{
			"go":      func(L *lua.LState) int { return 0 },
			"_hidden": func(L *lua.LState) int { return 0 },
		})
		if err := L.DoString(`function demo.lua() end`); err != nil {
			return err
		}
		_, err := rt.Extend(L, "fd", map[string]lua.LGFunction{"extra": func(L *lua.LState) int { return 0 }})
		return err
	}}
	rt, err := New(Options{Modules: []Module{m}})
	if err != nil {
		t.Fatal(err)
	}
	fns := rt.Functions()
	rt.Close()
	for _, want := range []string{"demo.go", "demo.lua", "fd.extra", "fd.pipe", "Fd:read", "task.timeout"} {
		if !slices.Contains(fns, want) {
			t.Errorf("Functions lacks %s", want)
		}
	}
	for _, f := range fns {
		if strings.Contains(f, "._") || strings.Contains(f, ":_") {
			t.Errorf("Functions lists private %s", f)
		}
	}
	if !slices.IsSorted(fns) {
		t.Error("Functions is not sorted")
	}

	bad := Module{Name: "broken", Open: func(rt *Runtime, L *lua.LState) error {
		_, err := rt.Extend(L, "nosuch", nil)
		return err
	}}
	if rt, err := New(Options{Modules: []Module{bad}}); err == nil {
		rt.Close()
		t.Fatal("New accepted a module that failed to open")
	} else if !strings.Contains(err.Error(), "opening module broken: luabind: cannot extend nosuch") {
		t.Fatalf("err = %v", err)
	}
}

// TestCoreWithoutModules: with no Options.Modules only the core is there.
func TestCoreWithoutModules(t *testing.T) {
	leakcheck.Check(t)
	rt, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	for _, f := range rt.Functions() {
		if strings.HasPrefix(f, "fs.") || strings.HasPrefix(f, "topo.") || f == "fd.ready" {
			t.Errorf("core runtime has %s", f)
		}
	}
	if res := rt.RunString(`assert(fs == nil and topo == nil and clock == nil)`, "=core"); res.Err != nil {
		t.Fatal(rt.ErrorReport(res.Err))
	}
}

// TestUnknownSignalNameIsAnError: the topology's signal_pid sent SIGKILL
// for a name it did not know; now it refuses, and the process lives on.
// A spec's expect.signal checks against the same table.
func TestUnknownSignalNameIsAnError(t *testing.T) {
	mustRun(t, `
		local native = require "fdwire.topo.native"
		local p = proc.spawn{"sleep", "30"}
		local ok, e = pcall(native.signal_pid, p:pid(), "TREM")
		assert(not ok and e.name == "EINVAL" and tostring(e):find('unknown signal "TREM"', 1, true), tostring(e))
		assert(native.alive(p:pid()), "the process was signalled")
		assert(native.signal_number("term") == 15 and native.signal_number("SIGKILL") == 9)
		assert(native.signal_number("TREM") == nil)
		native.signal_pid(p:pid(), "term")
		local sig = p:wait()
		assert(sig == "SIGTERM", tostring(sig))
		ok, e = pcall(topo.define, { procs = { a = { sh = "true", expect = { signal = "TREM" } } } })
		assert(not ok and tostring(e):find('unknown signal "TREM"', 1, true), tostring(e))
		assert(topo.define({ procs = { a = { sh = "true", expect = { signal = "usr1" } } } }))
	`)
}

// TestOneMonotonicClock: clock.monotonic and the topology's clock are the
// same clock, read in order.
func TestOneMonotonicClock(t *testing.T) {
	mustRun(t, `
		local now = require("fdwire.topo.native").now
		local a = clock.monotonic(); local b = now(); local c = clock.monotonic()
		assert(a <= b and b <= c, string.format("%f %f %f", a, b, c))
	`)
}

// TestToolErrorsAreThePrimitivesErrors: the tools' common.fail raised its
// own table with an errno table of ten names (EBADF, ESRCH, ENOSYS, ...
// came out as errno 0) and its own formatting; now it is the primitives'
// error value.
func TestToolErrorsAreThePrimitivesErrors(t *testing.T) {
	mustRun(t, `
		local common = require "fdwire.tools.common"
		local _, prim = pcall(fd.open, "/nonexistent/x")
		for _, c in ipairs{ {"EBADF", 9}, {"ESRCH", 3}, {"ENOSYS", 38}, {"EINVAL", 22} } do
			local ok, e = pcall(common.fail, "send", c[1], "why", 1)
			assert(not ok and e.errno == c[2] and e.name == c[1] and e.status == 1, c[1] .. " " .. tostring(e.errno))
			assert(getmetatable(e) == getmetatable(prim), "not the primitives' error value")
			assert(tostring(e) == "send: " .. c[1] .. ": why", tostring(e))
		end
		local ok, e = pcall(common.fail, "holder.list", "BOGUS", "from the peer")
		assert(not ok and e.name == "ERROR" and e.errno == 0 and e.msg == "BOGUS: from the peer", tostring(e))
	`)
}
