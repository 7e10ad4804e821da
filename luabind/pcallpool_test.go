package luabind

import "testing"

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
