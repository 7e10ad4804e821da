package luabind

import (
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// pcall and xpcall reuse their worker coroutines (glue.lua). A reused
// worker must behave exactly like a fresh coroutine: results and errors
// pass through whole, parks reach the scheduler from any depth, a worker
// that raised or whose task was cancelled is never reused, and an idle
// worker looks dead to code that kept a reference to it.
func TestPcallWorkersReused(t *testing.T) {
	out := mustRun(t, `
		local a, b = sock.pair()
		local log = {}
		local function step(i)
			-- alternate: a plain result, a raised error, a park, nested pcalls
			local ok, v = pcall(function(x) return x * 2 end, i)
			assert(ok and v == i * 2, "result " .. i)
			local ok2, e = pcall(error, { code = i })
			assert(not ok2 and e.code == i, "error " .. i)
			local ok3, why = pcall(sock.recvfds, b, { timeout = 0.001 })
			assert(not ok3 and why.name == "ETIMEDOUT", "park " .. i)
			local ok4, inner_ok, inner = pcall(pcall, function() task.sleep(0); return "in" end)
			assert(ok4 and inner_ok and inner == "in", "nested " .. i)
			assert(select("#", pcall(function() return nil, nil end)) == 3, "nils " .. i)
		end
		local tasks = {}
		for k = 1, 4 do
			tasks[k] = task.spawn(function() for i = 1, 50 do step(i) end return k end)
		end
		for k = 1, 4 do log[#log + 1] = tasks[k]:wait() end
		-- cancelled while parked inside pcall: the worker is not reused
		local parked = task.spawn(function() return pcall(sock.recvfds, b) end)
		task.sleep(0.01)
		parked:cancel()
		pcall(task.wait, parked)
		step(1)
		-- a worker kept past its pcall looks finished
		local co
		assert(pcall(function() co = coroutine.running() end))
		local r1, r2 = coroutine.resume(co, print, "must not run")
		log[#log + 1] = coroutine.status(co)
		log[#log + 1] = tostring(r1) .. " " .. r2
		-- a task's data survives through a pcall that parks and then resumes
		local t = task.spawn(function()
			local ok, fds, data = pcall(sock.recvfds, b)
			return ok, data
		end)
		task.sleep(0.01)
		sock.sendfds(a, {}, "ping")
		local ok, data = t:wait()
		log[#log + 1] = tostring(ok) .. " " .. data
		a:close(); b:close()
		print(table.concat(log, ","))
	`)
	if out != "1,2,3,4,dead,false cannot resume dead coroutine,true ping\n" {
		t.Fatalf("got %q", out)
	}
}

// REPL statements run under a context that ends with them, and a
// coroutine inherits its creator's context: a pcall worker made by one
// statement must not be reused by the next (it would fail at once with
// "context canceled"), nor outlive Ctrl-C of its own statement.
func TestPcallWorkersNotSharedAcrossStatements(t *testing.T) {
	rt, err := newTestRuntime(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	run := func(code string) []string {
		fn, err := rt.L.LoadString(code)
		if err != nil {
			t.Fatal(err)
		}
		res := rt.StartStatement(fn).Wait()
		if res.Err != nil {
			t.Fatalf("%s: %v", code, lua.LVAsString(res.Err))
		}
		var out []string
		for _, v := range res.Values {
			out = append(out, v.String())
		}
		return out
	}
	// A statement stopped outright (a second Ctrl-C) after its pcalls
	// finished: its context is cancelled.
	fn, err := rt.L.LoadString(`pcall(function() end) pcall(function() end) while true do end`)
	if err != nil {
		t.Fatal(err)
	}
	st := rt.StartStatement(fn)
	go func() {
		time.Sleep(50 * time.Millisecond)
		st.Interrupt(10 * time.Millisecond)
		st.Interrupt(10 * time.Millisecond)
	}()
	st.Wait()
	for i := 0; i < 3; i++ {
		got := run(`return pcall(function() return "fine" end)`)
		if len(got) != 2 || got[0] != "true" || got[1] != "fine" {
			t.Fatalf("statement %d: pcall gave %q", i+1, got)
		}
	}
}
