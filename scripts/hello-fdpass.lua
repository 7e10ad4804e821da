-- hello-fdpass: hand a pipe's write end to another process over SCM_RIGHTS.
--
-- The parent makes a pipe and a socketpair, starts a second fdwire with one
-- end of the socketpair at fd 3 (and nothing else beyond stdio), and sends
-- it the pipe's write end. The child writes a greeting into the pipe it
-- received; the parent reads it from its end.
local fdwire = arg[-1]

local r, w = fd.pipe()
local mine, theirs = sock.pair("stream")

local child = proc.spawn{
	fdwire, "-e", [[
		local s = fd.from(3)
		local fds, note = sock.recvfds(s, {timeout = 5})
		assert(#fds == 1, "expected one fd")
		fds[1]:write("hello from pid " .. proc.self().pid .. " through " .. note .. "\n")
	]],
	fds = {[3] = theirs},
}
theirs:close() -- the child has its copy; ours would keep the socket open

sock.sendfds(mine, {w}, "a passed pipe")
w:close() -- now only the child holds the write end: EOF follows its exit

local got = {}
while true do
	local chunk = r:read(4096, {timeout = 10})
	if not chunk then break end
	got[#got + 1] = chunk
end
local code = child:wait{timeout = 10}
assert(code == 0, "child failed: " .. tostring(code))
local text = table.concat(got)
assert(text:match("^hello from pid %d+ through a passed pipe\n$"), "unexpected: " .. text)
io.write(text)
