package luabind

import (
	"strings"
	"testing"
)

// task.event: set wakes every waiter in arrival order and stays set;
// notify wakes up to n of the tasks waiting now and leaves it clear; a
// set event's wait returns at once.
func TestTaskEventSetNotify(t *testing.T) {
	out := mustRun(t, `
		local ev = task.event()
		assert(tostring(ev) == "<event clear>" and not ev:is_set() and ev:waiting() == 0)
		local order = {}
		local ts = {}
		for i = 1, 3 do
			ts[i] = task.spawn(function() assert(ev:wait() == true); order[#order + 1] = i end)
		end
		task.yield()
		assert(ev:waiting() == 3, ev:waiting())
		assert(tostring(ev) == "<event clear, 3 waiting>", tostring(ev))
		assert(ev:set() == 3)
		task.wait(ts[1], ts[2], ts[3])
		assert(table.concat(order, ",") == "1,2,3", table.concat(order, ","))
		assert(ev:is_set() and tostring(ev) == "<event set>")
		assert(ev:wait() == true and ev:wait{timeout = 0} == true) -- set: no wait
		ev:clear()
		assert(not ev:is_set())

		-- notify: a pulse for the waiters of now
		local n = 0
		for i = 1, 3 do task.spawn(function() ev:wait(); n = n + 1 end) end
		task.yield()
		assert(ev:notify(1) == 1 and ev:waiting() == 2 and not ev:is_set())
		task.yield()
		assert(n == 1, n)
		assert(ev:notify() == 2 and ev:waiting() == 0)
		task.yield()
		assert(n == 3, n)
		assert(ev:notify() == 0) -- nobody waits: nothing is remembered
		local ok, e = pcall(ev.wait, ev, { timeout = 0 })
		assert(not ok and e.name == "ETIMEDOUT" and e.op == "Event:wait", tostring(e))

		-- initial state, and the condition-variable pattern
		assert(task.event{ set = true }:is_set())
		local queue, cond = {}, task.event()
		local consumer = task.spawn(function()
			local got = {}
			while #got < 3 do
				while #queue == 0 do cond:wait() end
				got[#got + 1] = table.remove(queue, 1)
			end
			return table.concat(got, " ")
		end)
		for _, w in ipairs{ "a", "b", "c" } do
			queue[#queue + 1] = w
			cond:notify()
			task.yield()
		end
		print(consumer:wait())
		ev:close(); cond:close()
	`)
	if strings.TrimSpace(out) != "a b c" {
		t.Fatalf("consumer got %q", out)
	}
}

// Every way a wait ends without set/notify takes the task off the event:
// its own timeout, an enclosing task.timeout, Task:cancel, and close
// (which ends the waits with EBADF and refuses later use).
func TestTaskEventTimeoutCancelClose(t *testing.T) {
	mustRun(t, `
		local ev = task.event()
		local ok, e = pcall(ev.wait, ev, { timeout = 0.02 })
		assert(not ok and e.name == "ETIMEDOUT" and tostring(e):find("not set or notified within 20ms", 1, true), tostring(e))
		assert(ev:waiting() == 0)

		ok, e = pcall(task.timeout, 0.02, function() return ev:wait() end)
		assert(not ok and e.name == "ETIMEDOUT" and tostring(e):find("task.timeout", 1, true), tostring(e))
		assert(ev:waiting() == 0)

		local waiter = task.spawn(function() return ev:wait() end)
		task.yield()
		assert(ev:waiting() == 1)
		waiter:cancel()
		ok, e = pcall(waiter.wait, waiter)
		assert(not ok and e.name == "ECANCELED", tostring(e))
		assert(ev:waiting() == 0)
		assert(ev:set() == 0) -- the cancelled task is not woken again

		ev:clear()
		local w2 = task.spawn(function() return pcall(ev.wait, ev) end)
		task.yield()
		ev:close()
		local okw, ew = w2:wait()
		assert(okw == false and ew.name == "EBADF" and ew.op == "Event:wait", tostring(ew))
		assert(tostring(ev) == "<event closed>" and ev:waiting() == 0)
		ev:close() -- idempotent
		for _, m in ipairs{ "wait", "set", "notify", "clear", "is_set" } do
			local okm, em = pcall(ev[m], ev)
			assert(not okm and em.name == "EBADF" and em.op == "Event:" .. m, m .. ": " .. tostring(em))
		end
	`)
}

// A wait nobody can end is reported as a deadlock, not a hang.
func TestTaskEventDroppedIsDeadlock(t *testing.T) {
	r := runLuaFull(t, `task.event():wait()`)
	if !strings.Contains(r.Err, "EDEADLK") {
		t.Fatalf("want EDEADLK, got %q", r.Err)
	}
}

func TestTaskEventBadArguments(t *testing.T) {
	mustRun(t, `
		local ev = task.event()
		local function refuses(want, f, ...)
			local ok, e = pcall(f, ...)
			assert(not ok, want .. ": no error")
			assert(e.name == "EINVAL" and tostring(e):find(want, 1, true), want .. " / " .. tostring(e))
		end
		refuses('unknown option "sett" (did you mean "set"?)', task.event, { sett = true })
		refuses("expected an option table {set=}, got number", task.event, 5)
		refuses("opts.set: expected a boolean", task.event, { set = 1 })
		refuses("expected an Event, got number", ev.wait, 42)
		refuses("expected an Event, got Task", ev.set, task.current())
		refuses('unknown option "timout" (did you mean "timeout"?)', ev.wait, ev, { timout = 1 })
		refuses("-1 is negative", ev.wait, ev, { timeout = -1 })
		refuses("expected an option table {timeout=}, got number", ev.wait, ev, 5)
		refuses("0 is out of range", ev.notify, ev, 0)
		refuses("1.5 is not an integer", ev.notify, ev, 1.5)
		assert(ev:waiting() == 0)
		ev:close()
	`)
}
