package luabind

import "testing"

// recvfds's first try reuses one receive buffer and shares the Lua string
// of a repeated payload: every message still reads its own bytes (equal,
// different, empty, longer than the shared-string limit, beyond the pooled
// buffer), an error's data is not overwritten by the receives after it,
// and the descriptors of each are owned handles or an owned batch.
func TestRecvfdsReusedBufferKeepsEachMessage(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local r, w = fd.pipe()
		local start = #fd.list()
		local long = string.rep("L", 300)
		local seq = {"m", "m", "mm", "", "m", long, long, "x"}
		for i, d in ipairs(seq) do
			-- (descriptors with no data would travel with a NUL byte)
			local n = d == "" and 0 or 1
			sock.sendfds(a, n == 1 and {r} or {}, d)
			local batch = i % 2 == 0
			local got, data = sock.recvfds(b, {batch = batch})
			assert(data == d, "message " .. i .. ": " .. tostring(data))
			assert(#got == n and #fd.list() == start + n, "owned and listed")
			fd.close(got)
			assert(#fd.list() == start)
		end
		-- an error's data survives the receives that follow it
		sock.sendfds(a, {r, w}, "kept")
		local ok, e = pcall(sock.recvfds, b, {max = 1})
		assert(not ok and e.name == "MSG_CTRUNC", tostring(e))
		sock.sendfds(a, {}, "over")
		local _, d = sock.recvfds(b, {batch = true})
		assert(d == "over" and e.data == "kept", e.data)
		-- larger than the pooled buffer: its own
		local big = string.rep("b", 70000)
		local s1, s2 = sock.pair("stream")
		sock.sendfds(s1, {r}, big)
		local got, data = sock.recvfds(s2, {size = 100000, batch = true})
		assert(#got == 1 and #data > 0 and big:sub(1, #data) == data, #got .. " " .. #data)
		fd.close(got, s1, s2)
		-- a receive that waits (nothing queued at its first try)
		local waiter = task.spawn(function() return sock.recvfds(b, {batch = true}) end)
		task.sleep(0.01)
		sock.sendfds(a, {w}, "late")
		local bt, late = waiter:wait()
		assert(late == "late" and #bt == 1 and #fd.list() == start + 1)
		fd.close(bt)
		a:close()
		local none, eof = sock.recvfds(b, {batch = true})
		assert(#none == 0 and eof == nil)
		assert(#fd.list() == start - 1, "a closed, nothing else left")
	`)
}

// sendfds reads the numbers of up to 16 handles once, while checking
// them open, and sends those; a longer list or a batch is read again at
// the send. Either way a closed entry is refused before anything goes,
// what arrives is what was named, in order, and a send that has to wait
// for room (its first try got EAGAIN) still delivers every message whole.
func TestSendfdsNumbersReadOnceAndWaiting(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local start = #fd.list()
		local pipes = {}
		for i = 1, 10 do local r, w = fd.pipe(); pipes[#pipes + 1] = r; pipes[#pipes + 1] = w end
		local function ino(h) return h:info().inode end
		for _, n in ipairs({1, 2, 16, 17, 20}) do
			local list = {}
			for i = 1, n do list[i] = pipes[i] end
			assert(sock.sendfds(a, list, "n" .. n) == #("n" .. n))
			local got, data = sock.recvfds(b)
			assert(data == "n" .. n and #got == n, data)
			for i = 1, n do assert(ino(got[i]) == ino(list[i]), "entry " .. i) end
			fd.close(got)
		end
		-- closed entries: refused, and nothing was sent
		local r, w = fd.pipe()
		w:close()
		for _, n in ipairs({2, 17}) do
			local list = {}
			for i = 1, n - 1 do list[i] = pipes[i] end
			list[n] = w
			local ok, e = pcall(sock.sendfds, a, list, "x")
			assert(not ok and e.name == "EBADF" and tostring(e):find("fds[" .. n .. "] is a closed handle", 1, true), tostring(e))
		end
		local ok, e = pcall(sock.recvfds, b, {timeout = 0})
		assert(not ok and e.name == "ETIMEDOUT", "nothing was sent")
		-- a batch with a closed entry
		sock.sendfds(a, {r, pipes[1]}, "two")
		local bt = sock.recvfds(b, {batch = true})
		bt[2]:close()
		ok, e = pcall(sock.sendfds, a, bt, "y")
		assert(not ok and e.name == "EBADF", tostring(e))
		fd.close(bt)
		-- fill the socket, then sends wait for the receiver: all arrive
		local sent = 0
		while true do
			local ok = pcall(sock.sendfds, a, {r}, "fill", {timeout = 0})
			if not ok then break end
			sent = sent + 1
		end
		local got = 0
		local reader = task.spawn(function()
			for i = 1, sent + 50 do
				local l, d = sock.recvfds(b, {batch = true})
				assert(#l == 1 and (d == "fill" or d == "more"), d)
				fd.close(l)
				got = got + 1
			end
		end)
		for i = 1, 50 do assert(sock.sendfds(a, {r}, "more") == 4) end
		reader:wait()
		assert(got == sent + 50 and sent > 0)
		fd.close(r)
		for _, p in ipairs(pipes) do p:close() end
		assert(#fd.list() == start)
	`)
}

// recvfds reads a valid option table in one pass; every option still
// takes effect, and anything invalid still gets the generic check's error.
func TestRecvfdsOptionsQuickAndChecked(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local r, w = fd.pipe()
		sock.sendfds(a, {r}, "hello")
		local bt, data, extra = sock.recvfds(b, {max = 1, size = 3, timeout = 1, batch = true})
		assert(tostring(bt):match("^<fdbatch 1:") and data == "hel" and extra.truncated, data)
		fd.close(bt)
		local ok, e = pcall(sock.recvfds, b, {timeout = 0})
		assert(not ok and e.name == "ETIMEDOUT", tostring(e))
		sock.sendfds(a, {r, w}, "two")
		ok, e = pcall(sock.recvfds, b, {max = 1, batch = false})
		assert(not ok and e.name == "MSG_CTRUNC" and e.data == "two", tostring(e))
		for _, c in ipairs({
			{{batch = 1}, "batch"}, {{maxx = 1}, "did you mean"}, {{max = 254}, "max"},
			{{size = 0}, "size"}, {{timeout = -1}, "timeout"}, {{[1] = true}, "not an option name"},
			{"x", "option table"},
		}) do
			local ok, e = pcall(sock.recvfds, b, c[1])
			assert(not ok and e.name == "EINVAL" and tostring(e):find(c[2], 1, true), tostring(e))
		end
		-- the refusals consumed nothing
		ok, e = pcall(sock.recvfds, b, {timeout = 0})
		assert(not ok and e.name == "ETIMEDOUT", tostring(e))
	`)
}

// recvfds_many's handles, carved from one slab per call, are ordinary
// handles: fd.list() gives the same values, each closes alone, and one
// kept after the others are closed stays open and owned.
func TestRecvfdsManyHandlesFromSlab(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local r, w = fd.pipe()
		sock.sendfds_many(a, {{"1", r}, {"2", w, r}, {"3", w}})
		local ms, all = sock.recvfds_many(b)
		assert(#ms == 3 and #all == 4)
		local listed = {}
		for _, h in ipairs(fd.list()) do listed[h] = true end
		for _, m in ipairs(ms) do
			for j = 2, #m do
				assert(listed[m[j]] and getmetatable(m[j]) == getmetatable(r), "a listed Fd handle")
			end
		end
		local keep = ms[2][3]
		ms[1][2]:close(); ms[2][2]:close(); ms[3][2]:close()
		assert(not keep:closed() and keep:info().inode == r:info().inode)
		local n = #fd.list()
		keep:close()
		assert(#fd.list() == n - 1 and all[3]:closed())
	`)
}
