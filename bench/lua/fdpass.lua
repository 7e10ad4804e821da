-- fdpass: NFDS descriptors per message over a unix seqpacket socketpair
-- between two fdwire processes; the receiver closes every descriptor.
--
--   fdwire bench/lua/fdpass.lua NFDS NMSGS
--
-- The parent (sender) starts a second fdwire running this script with
-- "recv" and its socket end at fd 3. The receiver says "ready" first so the
-- clock starts when both sides run, and "done" after the last message,
-- where the clock stops. Prints: RESULT <messages/s> <fds/s> <seconds>
-- (os.clock is wall time in gopher-lua).
local mode = arg[1]

if mode == "recv" then
	local nmsgs = tonumber(arg[2])
	local s = fd.from(3)
	local recvfds = sock.recvfds
	-- batch: the descriptors arrive as an FdBatch, owned but with no Lua
	-- handle made per descriptor; fd.close closes each run of consecutive
	-- numbers with one close_range(2).
	local opts = {max = 253, batch = true}
	sock.sendfds(s, {}, "r")
	local close = fd.close
	for _ = 1, nmsgs do
		close((recvfds(s, opts)))
	end
	sock.sendfds(s, {}, "d")
	return
end

local nfds, nmsgs = tonumber(arg[1]), tonumber(arg[2])
assert(nfds and nmsgs and nfds >= 1 and nfds <= 253, "usage: fdpass.lua NFDS NMSGS")
local mine, theirs = sock.pair("seqpacket")
local child = proc.spawn{"/proc/self/exe", arg[0], "recv", tostring(nmsgs), fds = {[3] = theirs}}
theirs:close()
local devnull = fd.open("/dev/null", "r+")
local fds = {}
for i = 1, nfds do
	fds[i] = devnull
end
local _, ready = sock.recvfds(mine)
assert(ready == "r", "no ready from the receiver")
local sendfds = sock.sendfds
local t0 = os.clock()
for _ = 1, nmsgs do
	sendfds(mine, fds, "m")
end
local _, done = sock.recvfds(mine)
assert(done == "d", "no done from the receiver")
local dt = os.clock() - t0
assert(child:wait() == 0, "receiver failed")
print(string.format("RESULT %.1f %.1f %.6f", nmsgs / dt, nmsgs * nfds / dt, dt))
