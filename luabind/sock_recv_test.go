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
