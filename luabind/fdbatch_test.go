package luabind

import (
	"strings"
	"testing"
)

// A batch from sock.recvfds(s, {batch = true}) owns its descriptors from
// the moment they arrive: listed by fd.list(), closed by the runtime when
// the script ends normally (runLua's leak check), and the same handle
// whichever way it is reached.
func TestFdBatchOwnedAndListed(t *testing.T) {
	out := mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local r, w = fd.pipe()
		local before = #fd.list()
		sock.sendfds(a, {r, w, r, w}, "four")
		local bt, data = sock.recvfds(b, {batch = true})
		assert(data == "four" and #bt == 4 and bt:len() == 4)
		assert(#fd.list() == before + 4, "listed before any is touched")
		local listed = {}
		for _, h in ipairs(fd.list()) do listed[h] = true end
		for i, h in bt:iter() do assert(listed[h], "fd.list's handle is the batch's " .. i) end
		assert(bt[2] == bt:get(2) and bt[5] == nil and bt[0] == nil)
		assert(bt:num(3) == bt[3]:num())
		assert(tostring(bt):match("^<fdbatch 4: %d+ %d+ %d+ %d+>$"), tostring(bt))
		local ok, e = pcall(bt.get, bt, 5)
		assert(not ok and e.name == "EINVAL", tostring(e))
		-- left open on purpose: the runtime closes it at exit
		print("ok")
	`)
	if out != "ok\n" {
		t.Fatalf("got %q", out)
	}
}

// The script fails with a batch open, and a task is cancelled holding
// one and while parked receiving one: nothing leaks (runLua checks).
func TestFdBatchClosedOnErrorAndCancel(t *testing.T) {
	mustFail(t, `
		local a, b = sock.pair("seqpacket")
		local r, w = fd.pipe()
		sock.sendfds(a, {r, w, r}, "x")
		local holder = task.spawn(function()
			local bt = sock.recvfds(b, {batch = true})
			local _ = bt[1] -- one touched, two not
			task.sleep(60)
		end)
		local waiter = task.spawn(function() return sock.recvfds(b, {batch = true}) end)
		task.sleep(0.02)
		holder:cancel()
		waiter:cancel()
		sock.sendfds(a, {r, w}, "late") -- queued, never received: the kernel's
		error("boom")
	`, "boom")
}

// Mixed use, at random but reproducibly: batches received, some entries
// touched (indexed, iterated, got), passed on whole or mixed with loose
// handles in sendfds and spawn maps, closed whole or handle by handle.
// Every descriptor is accounted for: fd.list() returns to its start and
// the leak check passes.
func TestFdBatchPropertyMixed(t *testing.T) {
	for _, seed := range []string{"1", "7", "42"} {
		out := mustRun(t, `
			math.randomseed(`+seed+`)
			local a, b = sock.pair("seqpacket")
			local r, w = fd.pipe()
			local start = #fd.list()
			local function touch(bt)
				local how = math.random(4)
				if how == 1 then local _ = bt[math.random(#bt)]
				elseif how == 2 then for _, h in bt:iter() do assert(not h:closed()) end
				elseif how == 3 then local _ = bt:get(1)
				end -- 4: untouched
			end
			for round = 1, 60 do
				local n = math.random(1, 8)
				local send = {}
				for i = 1, n do send[i] = (i % 2 == 1) and r or w end
				sock.sendfds(a, send, "m")
				local bt = sock.recvfds(b, {batch = true})
				assert(#bt == n)
				touch(bt)
				local use = math.random(4)
				if use == 1 then
					-- pass the batch on whole, receive it again, close both
					sock.sendfds(a, bt, "again")
					local bt2 = sock.recvfds(b, {batch = true})
					assert(#bt2 == n)
					touch(bt2)
					fd.close(bt, bt2)
				elseif use == 2 then
					-- a table mixing touched handles of the batch and a loose one
					local mix = {bt[1], r}
					sock.sendfds(a, mix, "mix")
					local got = sock.recvfds(b)
					assert(#got == 2)
					fd.close(got)
					bt:close()
				elseif use == 3 then
					-- a spawn map with the batch at 3.. and stdout
					local p = proc.spawn{"/bin/sh", "-c", "test -e /proc/self/fd/" .. (2 + n) .. " && ! test -e /proc/self/fd/" .. (3 + n),
						fds = {[3] = bt}}
					local code = p:wait()
					assert(code == 0, "the child saw the wrong descriptors: " .. tostring(code))
					fd.close(bt)
				else
					-- touched handles closed one by one, then the rest whole
					for i = 1, #bt, 2 do bt[i]:close() end
					fd.close(bt)
				end
				assert(#fd.list() == start, "round " .. round .. ": " .. #fd.list() .. " listed, want " .. start)
			end
			print("ok")
		`)
		if !strings.HasPrefix(out, "ok") {
			t.Fatalf("seed %s: %q", seed, out)
		}
	}
}

// Bad inputs: a closed batch entry in sendfds or a spawn map is EBADF,
// overlapping map targets are refused, and FdBatch methods check self.
func TestFdBatchBadInputs(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local r, w = fd.pipe()
		sock.sendfds(a, {r, w}, "x")
		local bt = sock.recvfds(b, {batch = true})
		bt[1]:close()
		local ok, e = pcall(sock.sendfds, a, bt, "y")
		assert(not ok and e.name == "EBADF", tostring(e))
		ok, e = pcall(proc.spawn, {"/bin/true", fds = {[3] = bt}})
		assert(not ok and e.name == "EBADF", tostring(e))
		sock.sendfds(a, {r, w}, "z")
		local bt2 = sock.recvfds(b, {batch = true})
		ok, e = pcall(proc.spawn, {"/bin/true", fds = {[3] = bt2, [4] = r}})
		assert(not ok and tostring(e):find("given twice"), tostring(e))
		ok, e = pcall(bt2.len, "nope")
		assert(not ok and e.name == "EINVAL", tostring(e))
		ok, e = pcall(sock.recvfds, b, {batch = 1})
		assert(not ok and e.name == "EINVAL", tostring(e))
		assert(fd.close(bt) == 2 and fd.close(bt2) == 2)
		assert(bt2[1]:closed() and bt2[2]:closed())
	`)
}
