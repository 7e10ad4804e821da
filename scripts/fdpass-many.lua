-- fdpass-many: hand many descriptors, each with its own message, to another
-- process in a few system calls (sendmmsg/recvmmsg).
--
-- The parent makes ten pipes and sends the write end of each, tagged with
-- its name, to a second fdwire in one sock.sendfds_many. The child takes
-- the messages with sock.recvfds_many (as many per call as are queued) and
-- writes each tag into the pipe that came with it; the parent reads every
-- pipe back. A send that ends early says how many messages went (e.sent),
-- so nothing is lost in silence: the pcall below shows the idiom.
local fdwire = arg[-1]
local n = 10

local mine, theirs = sock.pair("seqpacket")
local child = proc.spawn{
	fdwire, "-e", [[
		local s = fd.from(3)
		local seen = 0
		while seen < ]] .. n .. [[ do
			local msgs, all = sock.recvfds_many(s, {max = 1, timeout = 5})
			for _, m in ipairs(msgs) do
				m[2]:write("pipe " .. m[1] .. " reached pid " .. proc.self().pid .. "\n")
			end
			fd.close(all) -- every descriptor of the call at once
			seen = seen + #msgs
		end
	]],
	fds = {[3] = theirs},
}
theirs:close()

local reads, msgs = {}, {}
for i = 1, n do
	local r, w = fd.pipe()
	reads[i] = r
	msgs[i] = {tostring(i), w} -- {data, fd, ...}: the form recvfds_many returns
end
local ok, e = pcall(sock.sendfds_many, mine, msgs, {timeout = 5})
if not ok then
	error(string.format("only %s of %d messages went: %s", tostring(e.sent), n, tostring(e)))
end
for i = 1, n do
	msgs[i][2]:close() -- the child holds the write ends now: EOF after it writes
end

for i = 1, n do
	local line = reads[i]:read(100, {timeout = 10})
	assert(line and line:match("^pipe " .. i .. " reached pid %d+\n$"), "pipe " .. i .. ": " .. tostring(line))
	assert(reads[i]:read(100, {timeout = 10}) == nil, "pipe " .. i .. " is not at EOF")
	reads[i]:close()
end
assert(child:wait{timeout = 10} == 0, "child failed")
print(n .. " pipes passed with their own messages")
