-- fdpass_many: NFDS descriptors per message over a unix seqpacket
-- socketpair between two fdwire processes, through the batch API:
-- sock.sendfds_many / sock.recvfds_many (sendmmsg/recvmmsg, up to 64
-- messages per call); the receiver closes every descriptor.
--
--   fdwire bench/lua/fdpass_many.lua NFDS NMSGS
--
-- Same protocol as fdpass.lua: the receiver says "ready" first, "done"
-- after the last message; the clock runs between them. Prints:
-- RESULT <messages/s> <fds/s> <seconds>.
local mode = arg[1]
local window = 64

if mode == "recv" then
	local nmsgs = tonumber(arg[2])
	local s = fd.from(3)
	local recv = sock.recvfds_many
	local close = fd.close
	local opts = {count = window, max = 253, size = 64}
	sock.sendfds(s, {}, "r")
	local got = 0
	while got < nmsgs do
		-- all: every descriptor of the call's messages in one FdBatch;
		-- fd.close closes each run of consecutive numbers with one
		-- close_range(2)
		local msgs, all = recv(s, opts)
		close(all)
		got = got + #msgs
	end
	sock.sendfds(s, {}, "d")
	return
end

local nfds, nmsgs = tonumber(arg[1]), tonumber(arg[2])
assert(nfds and nmsgs and nfds >= 1 and nfds <= 253, "usage: fdpass_many.lua NFDS NMSGS")
local mine, theirs = sock.pair("seqpacket")
local child = proc.spawn{"/proc/self/exe", arg[0], "recv", tostring(nmsgs), fds = {[3] = theirs}}
theirs:close()
local devnull = fd.open("/dev/null", "r+")
local msg = {"m"}
for i = 1, nfds do
	msg[i + 1] = devnull
end
local full, rest = {}, {}
for i = 1, window do
	full[i] = msg
end
for i = 1, nmsgs % window do
	rest[i] = msg
end
local _, ready = sock.recvfds(mine)
assert(ready == "r", "no ready from the receiver")
local send = sock.sendfds_many
local t0 = os.clock()
for _ = 1, math.floor(nmsgs / window) do
	send(mine, full)
end
if #rest > 0 then
	send(mine, rest)
end
local _, done = sock.recvfds(mine)
assert(done == "d", "no done from the receiver")
local dt = os.clock() - t0
assert(child:wait() == 0, "receiver failed")
print(string.format("RESULT %.1f %.1f %.6f", nmsgs / dt, nmsgs * nfds / dt, dt))
