package luabind

import (
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/fdio"
)

// pcall of a blocking binding runs in the caller's own coroutine
// (protected.go): a task parked in pcall(r.read, r, n) is suspended in
// protectedGo itself, with no worker coroutine between, and wakes with
// pcall's results.
func TestPcallBlockingWithoutCoroutine(t *testing.T) {
	leakcheck.Check(t)
	// probe(f) is a blocking binding that notes which coroutine runs it
	// (the task's own, or another) and waits for f to be readable.
	var seen []string
	probe := Module{Name: "probe", Open: func(rt *Runtime, L *lua.LState) error {
		_, err := rt.Extend(L, "fd", map[string]lua.LGFunction{"probe": func(L *lua.LState) int {
			f := rt.CheckOpenFd(L, "fd.probe", 1, "f")
			if cur := rt.sched.current; cur != nil && cur.th == L {
				seen = append(seen, "task")
			} else {
				seen = append(seen, "other")
			}
			return rt.Park(L, "probe", f, unix.POLLIN, WaitForever, func() ([]lua.LValue, error) {
				n, err := f.Num()
				if err != nil {
					return nil, err
				}
				if rev, err := fdio.Ready(n, unix.POLLIN); err != nil || rev == 0 {
					if err == nil {
						err = fdio.ErrAgain
					}
					return nil, err
				}
				return []lua.LValue{lua.LString("readable")}, nil
			})
		}}, "probe")
		return err
	}}
	rt, err := New(Options{Modules: append(append([]Module{}, testModules...), probe)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	res := rt.RunString(`
		local r, w = fd.pipe()
		local a, b = sock.pair()
		local t0 = task.spawn(function() return pcall(fd.probe, r) end)
		local t1 = task.spawn(function() return pcall(r.read, r, 5) end)
		local t2 = task.spawn(function() return pcall(sock.recvfds, b) end)
		local t3 = task.spawn(function() return pcall(task.sleep, 0.05) end)
		task.sleep(0.01)
		w:write("hello")
		sock.sendfds(a, {}, "ping")
		local ok0, p = t0:wait()
		local ok1, data = t1:wait()
		local ok2, fds, msg = t2:wait()
		local ok3 = t3:wait()
		r:close(); w:close(); a:close(); b:close()
		return ok0, p, ok1, data, ok2, #fds, msg, ok3
	`, "=test")
	if res.Err != nil {
		t.Fatal(rt.ErrorReport(res.Err))
	}
	var got []string
	for _, v := range res.Values {
		got = append(got, v.String())
	}
	if g := strings.Join(got, " "); g != "true readable true hello true 0 ping true" {
		t.Errorf("results: %s", g)
	}
	if strings.Join(seen, " ") != "task" {
		t.Errorf("the binding under pcall ran on: %v (want the task's own coroutine)", seen)
	}
	if rt.pcallDepth != 0 || rt.pcallParked != 0 {
		t.Errorf("pcall state left: depth %d parked %d", rt.pcallDepth, rt.pcallParked)
	}
}

// Errors come back as values whether the binding fails at once or after
// it parked, with pcall's and xpcall's shapes and check's traceback; an
// error does not detach the caller's locals from its closures; a cancel
// or a timeout ends the parked call; where the task cannot park (a for-in
// iterator, a metamethod) the call waits in place, also inside a Lua
// function under pcall; inside coroutine.wrap and nested pcalls the park
// still reaches the scheduler.
func TestPcallBlockingErrors(t *testing.T) {
	out := mustRun(t, `
		local r, w = fd.pipe()
		local log = {}
		local function add(...) log[#log + 1] = table.concat({...}, " ") end

		-- at once: a bad argument, a closed handle
		local ok, e = pcall(r.read, "nope", 1)
		add("arg", tostring(ok), tostring(e):find("Fd:read") and "Fd:read" or tostring(e))
		local c, _ = fd.pipe()
		c:close()
		ok, e = pcall(c.read, c, 1)
		add("closed", tostring(ok), e.name, type(e.traceback))

		-- after parking: the read's own timeout; xpcall's handler
		ok, e = pcall(r.read, r, 1, { timeout = 0.01 })
		add("timeout", tostring(ok), e.name, type(e.traceback))
		ok, e = xpcall(r.read, function(err) return "handled " .. err.name end, r, 1, { timeout = 0.01 })
		add("xpcall", tostring(ok), e)
		ok, e = pcall(task.timeout, 0.01, function() return pcall(r.read, r, 1) end)
		add("task.timeout", tostring(ok), tostring(e), tostring(select(2, pcall(task.timeout, 0.01, function() local _, x = pcall(r.read, r, 1); return x.name end))))

		-- an error caught by pcall leaves shared locals shared
		local n = 0
		local function inc() n = n + 1 end
		inc()
		pcall(r.read, r, "x")
		inc(); n = n + 1; inc()
		add("upvalues", n)

		-- cancelled while parked
		local t = task.spawn(function() return pcall(r.read, r, 1) end)
		task.sleep(0.01)
		t:cancel()
		local ok1, ok2, err = pcall(t.wait, t)
		add("cancel", tostring(ok1), tostring(ok2), err and err.name or "?")

		-- no park possible inside a for-in iterator: waits in place
		for v in function(_, prev) if prev then return nil end
			local ok3, e3 = pcall(r.read, r, 1, { timeout = 0.01 })
			return tostring(ok3) .. " " .. e3.name
		end do add("iterator", v) end
		-- nor a Lua function under pcall there, nor in a metamethod (the
		-- worker coroutine's park crashed the VM): it runs in place
		for v in function(_, prev) if prev then return nil end
			local ok4, e4 = pcall(function() return r:read(1, { timeout = 0.01 }) end)
			local ok5, e5 = xpcall(function() error({ code = 7 }) end, function(x) return x.code end)
			return tostring(ok4) .. " " .. e4.name .. " " .. tostring(ok5) .. " " .. e5
		end, nil, nil do add("iterator lua", v) end -- explicit nils: gopher-lua keeps the last loop's control value
		local mt = setmetatable({}, { __index = function(_, k)
			local ok6, e6 = pcall(function() return r:read(1, { timeout = 0.01 }) end)
			return tostring(ok6) .. " " .. e6.name
		end })
		add("metamethod", mt.x)

		-- coroutine.wrap and nested pcall pass the park outward
		local t2 = task.spawn(function()
			local f = coroutine.wrap(function() return pcall(r.read, r, 3) end)
			local okw, dw = f()
			local okn, oki, di = pcall(pcall, r.read, r, 3)
			return tostring(okw) .. " " .. dw .. " " .. tostring(okn) .. " " .. tostring(oki) .. " " .. di
		end)
		task.sleep(0.01)
		w:write("abc")
		task.sleep(0.01)
		w:write("def")
		add("nested", t2:wait())

		-- a child's exit through pcall(p.wait)
		local p = proc.spawn({ "sh", "-c", "exit 3" })
		local okp, pst = pcall(p.wait, p)
		add("wait", tostring(okp), tostring(pst))
		r:close(); w:close()
		print(table.concat(log, "\n"))
	`)
	want := []string{
		"arg false Fd:read",
		"closed false EBADF string",
		"timeout false ETIMEDOUT string",
		"xpcall false handled ETIMEDOUT",
		"task.timeout true false ETIMEDOUT",
		"upvalues 4",
		"cancel true false ECANCELED",
		"iterator false ETIMEDOUT",
		"iterator lua false ETIMEDOUT false 7",
		"metamethod false ETIMEDOUT",
		"nested true abc true true def",
		"wait true 3",
	}
	if got := strings.TrimSpace(out); got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}
